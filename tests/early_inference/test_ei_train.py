"""Training loop: the warmup -> plateau LR sequence, resume, checkpoints, logs."""

from __future__ import annotations

import csv
import itertools

import pytest
import torch
from early_inference import train_early_inference as train_module
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.train_early_inference import (
    CONFIG,
    FLATTEN_CONFIG,
    ORIGINAL_CONFIG,
    load_trained_model,
    prepare_split,
    train,
)

from trainkit import CheckpointError, ConfigError

TINY_MODEL = {"channels": [4, 4], "kernel_size": 3, "mlp_hidden": [8], "head_hidden": 8}


@pytest.fixture(scope="module")
def data():
    return generate_dataset(
        {"n_train": 96, "n_val": 32, "n_test": 32, "prefix_lengths": [30], "prefix_n_points": 24}, n_workers=1
    )


def small(config, **overrides):
    return {**config, "batch_size": 32, **overrides}


def test_plateau_schedule_warms_up_linearly_then_hands_over_to_plateau(data):
    result = train(data, 30, small(CONFIG, schedule="plateau"), TINY_MODEL, seed=0, max_epochs=7)
    lrs = [row["lr"] for row in result.history]
    assert lrs[:5] == pytest.approx([CONFIG["lr"] * f for f in (0.2, 0.4, 0.6, 0.8, 1.0)])
    assert lrs[5] == pytest.approx(CONFIG["lr"])  # the plateau scheduler starts from the full rate


def test_original_has_no_warmup_and_halves_on_plateau(data):
    config = small(ORIGINAL_CONFIG, scheduler_patience=0)
    result = train(data, 30, config, TINY_MODEL, seed=0, max_epochs=6)
    lrs = [row["lr"] for row in result.history]
    assert lrs[0] == pytest.approx(ORIGINAL_CONFIG["lr"])
    assert all(b in (pytest.approx(a), pytest.approx(a * 0.5)) for a, b in itertools.pairwise(lrs))
    # With patience 0 every non-improving epoch halves the rate: equal rates mean improvement.
    nll = [row["val_nll"] for row in result.history]
    for i in range(1, len(lrs) - 1):
        improved = nll[i] < min(nll[:i]) - 1e-4
        assert (lrs[i + 1] == pytest.approx(lrs[i])) == improved


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_resume_continues_the_schedule_and_matches_an_uninterrupted_run(data, tmp_path, schedule, monkeypatch):
    config = small(CONFIG, scheduler_patience=1, schedule=schedule, warmup_epochs=2)
    straight = train(data, 30, config, TINY_MODEL, seed=3, max_epochs=8)
    run_dir = tmp_path / "run"
    calls = []
    real = train_module.validation_nlls

    def killed_in_epoch_4(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "validation_nlls", killed_in_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        train(data, 30, config, TINY_MODEL, seed=3, max_epochs=8, run_dir=run_dir, checkpoint_every=1)
    monkeypatch.setattr(train_module, "validation_nlls", real)
    resumed = train(data, 30, config, TINY_MODEL, seed=3, max_epochs=8, run_dir=run_dir, checkpoint_every=1)
    assert [r["lr"] for r in resumed.history] == pytest.approx([r["lr"] for r in straight.history])
    assert [r["val_nll"] for r in resumed.history] == pytest.approx([r["val_nll"] for r in straight.history], rel=1e-5)
    with open(run_dir / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    model, identity = load_trained_model(sorted(run_dir.glob("*.pt"))[-1])
    assert identity["prefix_length"] == 30.0
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, resumed.model.state_dict()[name])


def test_a_checkpoint_from_another_config_is_refused(data, tmp_path):
    train(data, 30, small(CONFIG), TINY_MODEL, seed=0, max_epochs=1, run_dir=tmp_path, checkpoint_every=1)
    with pytest.raises(CheckpointError, match="another config"):
        train(data, 30, small(ORIGINAL_CONFIG), TINY_MODEL, seed=0, max_epochs=2, run_dir=tmp_path)


def test_a_corrupt_checkpoint_is_a_checkpoint_error(data, tmp_path):
    (tmp_path / "epoch000001.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError):
        train(data, 30, small(CONFIG), TINY_MODEL, seed=0, max_epochs=2, run_dir=tmp_path)


def test_bad_configs_are_config_errors(data):
    with pytest.raises(ConfigError, match="unknown keys"):
        train(data, 30, {**CONFIG, "momentum": 0.9}, TINY_MODEL, seed=0, max_epochs=1)
    with pytest.raises(ConfigError, match="not in this dataset"):
        train(data, 45, CONFIG, TINY_MODEL, seed=0, max_epochs=1)


def test_time_to_target_is_none_when_never_reached(data):
    result = train(data, 30, small(CONFIG), TINY_MODEL, seed=0, max_epochs=2)
    assert result.time_to_target(-100.0) is None
    assert result.time_to_target(1e9) == pytest.approx(result.history[0]["elapsed_s"])
    assert result.samples_per_s > 0


def test_flatten_arm_trains_checkpoints_and_reloads(data, tmp_path):
    result = train(data, 30, small(FLATTEN_CONFIG), TINY_MODEL, seed=0, max_epochs=3, run_dir=tmp_path)
    assert result.model.pooling_kind == "flatten"
    assert result.history[-1]["val_nll"] < result.history[0]["val_nll"]
    model, identity = load_trained_model(sorted(tmp_path.glob("*.pt"))[-1])
    assert identity["model_kwargs"]["sequence_length"] == 24
    split = prepare_split(data, "val", 30, result.normalizer, config=FLATTEN_CONFIG)
    with torch.inference_mode():
        torch.testing.assert_close(model(split.x, split.known), result.model(split.x, split.known))
