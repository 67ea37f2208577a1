"""`python -m neuro_gym train --tensorboard DIR`: the log's numeric columns, read back from the event file."""

import csv
import os
import subprocess
import sys

import pytest

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_train_writes_tensorboard_scalars_per_epoch(tmp_path):
    tb, ckpt = tmp_path / "tb", tmp_path / "ckpt"
    args = ["train", "--task", "xor", "--profile", "max_accuracy", "--max-epochs", "4", "--target", "1.0"]
    proc = subprocess.run(
        [sys.executable, "-m", "neuro_gym", *args, "--checkpoint-dir", str(ckpt), "--tensorboard", str(tb)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    with open(ckpt / "log.csv", newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs and epochs == list(range(1, len(epochs) + 1))
    acc = event_accumulator.EventAccumulator(str(tb))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    # evaluation metric, STDP learning-rate factor, throughput, and the teacher schedule (no loss: STDP)
    expected = {"accuracy", "stdp_lr_factor", "samples_per_s", "train_ms", "teacher", "eval_ms", "elapsed_s"}
    assert expected <= tags, tags
    for tag in ("accuracy", "stdp_lr_factor", "samples_per_s", "teacher"):
        assert [e.step for e in acc.Scalars(tag)] == epochs, tag
    assert all(e.value > 0 for e in acc.Scalars("samples_per_s"))
    assert all(0.0 < e.value <= 1.0 for e in acc.Scalars("stdp_lr_factor"))
