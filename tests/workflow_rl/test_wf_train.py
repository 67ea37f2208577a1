"""Both trainers end to end: same interface, learning, early stopping, the workflow search, the CLI."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from workflow_rl.baselines import evaluate_policy, make_baseline
from workflow_rl.cli import main
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.trainer import train

from trainkit import ConfigError

BENCH_WORKFLOW = (2, 1, 0, 3, 4)


def _config(path, tmp_path, **overrides):
    settings = {
        "n_envs": 8,
        "total_episodes": 16,
        "max_episodes": 16,
        "workflow": BENCH_WORKFLOW,
        "out": tmp_path,
        "eval_episodes": 16,
        "compliance_threshold": None,
        **overrides,
    }
    return with_trainer(TrainConfig(**settings), path)


@pytest.mark.parametrize("path", ["original", "fast"])
def test_both_paths_log_every_episode_and_update_at_their_own_cadence(path, tmp_path):
    result = train(_config(path, tmp_path), show_progress=False)
    assert result.episodes == 16 and result.env_steps == 1600
    assert result.updates == (2 if path == "original" else 4)
    with open(tmp_path / "episodes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["episode"]) for r in rows] == list(range(16))
    assert set(result.time_split) == {"env_step", "inference", "update", "logging"}


def test_fast_path_learns_past_the_random_policy_in_seconds(tmp_path):
    result = train(_config("fast", tmp_path, n_envs=32, total_episodes=320, max_episodes=320), show_progress=False)
    random = evaluate_policy(make_baseline("random"), "bline", BENCH_WORKFLOW, episodes=200)
    assert result.eval_return > random["return_mean"] + 200
    first, last = result.curve[0][1], result.curve[-1][1]
    assert last > first + 200


def test_compliance_threshold_stops_a_workflow_early(tmp_path):
    config = _config("fast", tmp_path, total_episodes=400, max_episodes=400, compliance_threshold=0.05)
    result = train(config, show_progress=False)
    assert result.episodes < 400
    assert result.workflows[0]["threshold_met"] is True


def test_search_trains_several_workflows_and_inherits_weights(tmp_path):
    config = _config("fast", tmp_path, workflow=None, total_episodes=48, max_episodes=16)
    result = train(config, show_progress=False)
    names = [w["workflow"] for w in result.workflows]
    assert len(names) == 3 == len(set(names))
    assert all(w["episodes"] == 16 for w in result.workflows)


def test_impossible_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="update-steps"):
        train(replace(_config("fast", tmp_path), update_steps=30), show_progress=False)
    with pytest.raises(ConfigError):
        train(_config("original", tmp_path, n_envs=1000), show_progress=False)


def test_cli_train_writes_a_summary_and_baselines_prints_the_table(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--n-envs", "4", "--total-episodes", "8", "--max-episodes", "8", "--out", str(out)]
    assert main([*argv, "--workflow", "user,op_host,op_server,enterprise,defender"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 8 and summary["trainer"] == "fast"
    assert main(["baselines", "--episodes", "20"]) == 0
    assert "react_restore" in capsys.readouterr().out


def test_cli_bad_workflow_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--workflow", "user,user", "--out", str(tmp_path)])
    stderr = capsys.readouterr().err
    assert stopped.value.code == 2
    assert stderr.count("\n") == 1 and "--workflow" in stderr
