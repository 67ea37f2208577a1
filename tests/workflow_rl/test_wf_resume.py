"""Resumed equals uninterrupted, for both trainers: a run stopped right after a mid-run checkpoint and rerun
with the same settings ends with the same weights, optimizer state and episode log, bit for bit."""

from __future__ import annotations

import csv
import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import workflow_rl.trainer as trainer_module
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.trainer import train

from trainkit import CheckpointError, load_checkpoint, save_checkpoint


class _StoppedError(Exception):
    """Stands in for a kill: raised right after the trainer's first checkpoint is on disk."""


def _config(trainer: str, out: Path) -> TrainConfig:
    # The original trainer updates every 100 steps, so each of its 2-env updates ends 2 episodes.
    settings = dict(n_envs=2, total_episodes=6, max_episodes=6, workflow=(2, 1, 0, 3, 4), out=out)
    settings.update(eval_episodes=4, compliance_threshold=None, checkpoint_every_s=0.0, seed=5)
    return with_trainer(TrainConfig(**settings), trainer)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("trainer", ["original", "fast"])
def test_a_run_stopped_after_a_mid_run_checkpoint_resumes_to_the_uninterrupted_run(trainer, tmp_path, monkeypatch):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    train(_config(trainer, whole), show_progress=False)

    real_save = trainer_module.save_checkpoint
    saves = []

    def save_then_stop(path, state, **kwargs):
        real_save(path, state, **kwargs)
        saves.append(state["progress"]["episodes"])
        if len(saves) == 1:
            raise _StoppedError

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_stop)
    with pytest.raises(_StoppedError):
        train(_config(trainer, stopped), show_progress=False)
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    assert 0 < saves[-1] < 6  # a mid-run checkpoint, with episodes (and env draws) after it still to come

    resumed = train(_config(trainer, stopped), show_progress=False)
    assert resumed.resumed_from == saves[-1]
    assert _rows(stopped / "episodes.csv") == _rows(whole / "episodes.csv")
    ours, reference = load_checkpoint(stopped / "checkpoint.pt"), load_checkpoint(whole / "checkpoint.pt")
    for name, tensor in reference["agent"].items():
        assert torch.equal(ours["agent"][name], tensor), name
    assert ours["env_rng"] == reference["env_rng"]
    for index, moments in reference["optimizer"]["state"].items():
        assert all(torch.equal(ours["optimizer"]["state"][index][key], value) for key, value in moments.items())


@pytest.mark.parametrize("trainer", ["original", "fast"])
def test_a_checkpoint_with_a_malformed_simulator_state_is_one_checkpoint_error(trainer, tmp_path):
    config = replace(_config(trainer, tmp_path), total_episodes=2, max_episodes=2)
    train(config, show_progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    state["env_rng"] = {"workers": [{"bit_generator": "PCG64"}] * 2} if trainer == "original" else {"state": 1}
    kind = trainer_module.CHECKPOINT_KIND
    save_checkpoint(tmp_path / "checkpoint.pt", state, package=trainer_module.PACKAGE, kind=kind)
    children = set(multiprocessing.active_children())
    with pytest.raises(CheckpointError, match="simulator") as caught:
        train(config, show_progress=False)
    # The traceback keeps train's frame (and its engine) alive: the workers must have been stopped explicitly.
    assert caught.traceback and set(multiprocessing.active_children()) <= children
