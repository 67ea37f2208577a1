"""Search backends without Ray: self-contained trials give the in-process results; Ray paths fail in one line."""

from __future__ import annotations

import csv
import functools
import logging
import sys

import pytest
import workflow_rl.trainer as trainer_module
from workflow_rl.cli import main
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.distributed import RAY_INSTALL_HINT
from workflow_rl.search import GPUCBSearch, LocalBackend
from workflow_rl.trainer import train

from trainkit import ConfigError


def _episodes_without_wall_time(folder):
    with open(folder / "episodes.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]


def test_isolated_trials_give_the_in_process_search_results(tmp_path):
    """What a Ray Tune trial gets (a picklable trial with its whole starting state) reproduces the local run."""
    settings = {"n_envs": 8, "total_episodes": 32, "max_episodes": 16, "seed": 3, "device": "cpu"}
    settings |= {"compliance_threshold": 0.5, "eval_episodes": 16}
    runs = {}
    for name, backend in {"live": LocalBackend(), "isolated": LocalBackend(isolated=True)}.items():
        result = train(TrainConfig(**settings, out=tmp_path / name), backend=backend, show_progress=False)
        runs[name] = (result.workflows, result.eval_return, result.updates, result.curve)
    assert len(runs["live"][0]) == 2  # two workflows proposed by GP-UCB, the second inheriting weights
    assert runs["isolated"] == runs["live"]
    assert _episodes_without_wall_time(tmp_path / "isolated") == _episodes_without_wall_time(tmp_path / "live")


def test_isolated_backend_refuses_the_original_path(tmp_path):
    config = with_trainer(TrainConfig(n_envs=2, total_episodes=2, out=tmp_path), "original")
    with pytest.raises(ConfigError, match="fast trainer"):
        train(config, backend=LocalBackend(isolated=True), show_progress=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["rllib", "--env-runners", "1", "--iterations", "1"],
        ["rllib-scaling", "--env-runners", "1", "2"],
        ["train", "--backend", "ray", "--n-envs", "2", "--total-episodes", "2"],
    ],
)
def test_ray_paths_without_ray_name_the_extra_in_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a package that is not installed
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and RAY_INSTALL_HINT in err
    # the output folder is probed (created, then a test file removed) before any work: nothing is left in it
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_base_package_does_not_import_ray():
    import workflow_rl.bench  # noqa: F401  (the one module cli imports lazily)

    assert "ray" not in sys.modules  # nor did anything else this (non-distributed) session ran


def test_a_search_that_runs_out_of_workflows_says_how_much_budget_it_left(tmp_path, monkeypatch, caplog):
    two = [(0, 1, 2, 3, 4), (1, 0, 2, 3, 4)]
    monkeypatch.setattr(trainer_module, "GPUCBSearch", functools.partial(GPUCBSearch, candidates=two))
    config = TrainConfig(n_envs=2, total_episodes=100, max_episodes=2, min_episodes=0, out=tmp_path,
                         compliance_threshold=None)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="workflow_rl"):
        result = train(config, show_progress=False)
    assert result.episodes == 4
    assert "every one of the 2 workflows is trained after 4 of the 100 budgeted episodes; the other 96" in caplog.text
