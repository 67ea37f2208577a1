"""`python -m early_inference train --tensorboard DIR`: loss, learning rate, throughput and validation NLL
per epoch, read back from the event file."""

from __future__ import annotations

import pytest
from early_inference.cli import main

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_train_writes_tensorboard_scalars_per_epoch(tmp_path):
    cache = tmp_path / "cache"
    common = ["--n-train", "64", "--n-val", "16", "--n-test", "16", "--prefix-lengths", "30", "--workers", "1"]
    assert main(["generate", *common, "--cache-dir", str(cache)]) == 0
    dataset = next(cache.glob("urea_*.npz"))
    tb = tmp_path / "tb"
    args = ["train", "--data", str(dataset), "--prefix-length", "30", "--profile", "ci", "--epochs", "3"]
    assert main([*args, "--run-dir", str(tmp_path / "run"), "--tensorboard", str(tb)]) == 0
    acc = event_accumulator.EventAccumulator(str(tb))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = {"train_loss", "lr", "samples_per_s", "val_nll", "val_nll_sum", "optimizer_steps", "samples_seen"}
    assert expected <= tags, tags
    assert any(tag.startswith("val_nll_") and tag != "val_nll_sum" for tag in tags)  # one NLL per parameter
    for tag in expected:
        assert [e.step for e in acc.Scalars(tag)] == [1, 2, 3], tag
    assert all(e.value > 0 for e in acc.Scalars("samples_per_s"))
    assert [e.value for e in acc.Scalars("samples_seen")] == [64, 128, 192]
