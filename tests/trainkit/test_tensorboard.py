"""The logger's TensorBoard sink, read back with TensorBoard's own EventAccumulator."""

import numpy as np
import pytest
import torch

from trainkit import BatchedCSVLogger
from trainkit.tensorboard import scalar_or_none

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(log_dir):
    acc = event_accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_numeric_fields_become_scalars_on_flush(tmp_path):
    tb = tmp_path / "tb"
    with BatchedCSVLogger(
        tmp_path / "log.csv", ["epoch", "loss", "lr", "note"], batch_size=2, tensorboard_dir=tb, step_field="epoch"
    ) as logger:
        logger.log({"epoch": 1, "loss": torch.tensor(0.5), "lr": np.float32(0.25), "note": "warmup"})
        logger.log({"epoch": 2, "loss": 0.25, "lr": 0.125, "note": ""})
        assert _scalars(tb)["loss"] == [(1, 0.5), (2, 0.25)]  # the batch flush reached TensorBoard too
        logger.log({"epoch": 3, "loss": 0.125})
    scalars = _scalars(tb)
    assert set(scalars) == {"loss", "lr"}
    assert scalars["loss"] == [(1, 0.5), (2, 0.25), (3, 0.125)]
    assert scalars["lr"] == [(1, 0.25), (2, 0.125)]


def test_resume_with_keep_rows_replaces_replayed_steps(tmp_path):
    path, tb = tmp_path / "log.csv", tmp_path / "tb"
    with BatchedCSVLogger(path, ["loss"], batch_size=1, tensorboard_dir=tb) as logger:
        for i in range(6):
            logger.log({"loss": float(i)})
    # the checkpoint covered 4 rows; the resumed run replays rows 4 and 5 with new values
    with BatchedCSVLogger(path, ["loss"], batch_size=1, tensorboard_dir=tb, keep_rows=4) as logger:
        assert logger.rows_written == 4
        for i in range(4, 7):
            logger.log({"loss": 10.0 * i})
    assert _scalars(tb)["loss"] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0), (6, 60.0)]


def test_step_field_must_be_a_field(tmp_path):
    with pytest.raises(ValueError, match="step_field"):
        BatchedCSVLogger(tmp_path / "log.csv", ["loss"], tensorboard_dir=tmp_path / "tb", step_field="epoch")


def test_scalar_or_none():
    assert scalar_or_none(torch.tensor([2.0])) == 2.0
    assert scalar_or_none(np.int64(3)) == 3.0
    for value in (None, "1.0", True, torch.ones(2), object()):
        assert scalar_or_none(value) is None


def test_resume_with_a_step_field_purges_after_the_last_kept_step(tmp_path):
    path, tb = tmp_path / "log.csv", tmp_path / "tb"
    with BatchedCSVLogger(path, ["epoch", "loss"], tensorboard_dir=tb, step_field="epoch") as logger:
        for epoch in (10, 20, 30):
            logger.log({"epoch": epoch, "loss": 1.0})
    with BatchedCSVLogger(path, ["epoch", "loss"], tensorboard_dir=tb, step_field="epoch", keep_rows=2) as logger:
        logger.log({"epoch": 30, "loss": 2.0})
    assert _scalars(tb)["loss"] == [(10, 1.0), (20, 1.0), (30, 2.0)]
