"""`python -m hd_ring_attractor train --tensorboard DIR`: losses, learning rate, throughput and validation
error per epoch, read back from the event file."""

from __future__ import annotations

import pytest
from hd_ring_attractor.cli import main

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

TAGS = ("train_loss", "val_loss", "val_error_deg", "learning_rate", "gradient_norm", "samples_per_s")


def _steps(folder):
    acc = event_accumulator.EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_train_writes_tensorboard_scalars_per_epoch(tmp_path):
    tb = tmp_path / "tb"
    common = ["train", "--n-exc", "32", "--n-inh", "8", "--batch-size", "8", "--sequences", "8", "--val-sequences", "8",
              "--test-sequences", "8", "--device", "cpu", "--checkpoint-dir", str(tmp_path / "run"),
              "--tensorboard", str(tb)]  # fmt: skip
    assert main([*common, "--epochs", "2"]) == 0
    steps = _steps(tb)
    for tag in TAGS:
        assert steps[tag] == [0, 1], tag  # epochs are 0-based, as in the checkpoint's history
