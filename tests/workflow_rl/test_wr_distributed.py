"""Ray paths against a real Ray: RLlib PPO learns past random, Ray Tune trials match the local search.

Run with ``pytest tests/workflow_rl --distributed -m distributed``: against the cluster that
``ray start --head`` started when ``RAY_ADDRESS`` is set (``nox -s distributed``), else a local 2-CPU Ray.
Ray is imported inside the fixture, so the normal test run never imports it.
"""

from __future__ import annotations

import csv
import json
import os
import pickle

import pytest
from workflow_rl.cli import main

from trainkit import run_cli

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    if os.environ.get("RAY_ADDRESS"):
        ray.init()  # joins the cluster RAY_ADDRESS names, as Ray does
    else:
        ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _cli(*argv: str) -> None:
    assert run_cli(main, list(argv), prog="workflow_rl") == 0


def test_rllib_ppo_beats_random_on_the_same_episodes_and_resumes(ray_cluster, tmp_path):
    command = ["rllib", "--env-runners", "2", "--envs-per-runner", "4", "--seed", "0", "--eval-episodes", "100"]
    _cli(*command, "--iterations", "3", "--out", str(tmp_path))
    report = json.loads((tmp_path / "rllib.json").read_text())
    assert [row["iteration"] for row in report["iterations"]] == [1, 2, 3]
    assert report["env_steps"] == 3 * 2000 and report["env_steps_per_s"] > 0
    evaluation = report["eval"]
    assert evaluation["ppo_greedy"]["episodes"] == evaluation["random"]["episodes"] == 100
    # random loses about -1000 per episode to bline; PPO must be clearly better after 6000 env steps
    assert evaluation["ppo_greedy"]["return_mean"] > evaluation["random"]["return_mean"] + 300
    assert evaluation["beats_random"] is True
    assert (tmp_path / "rllib_curve.png").stat().st_size > 0
    assert (tmp_path / "checkpoint" / "learner_state.pt").exists()

    # RLlib's own files would be unpickled by restore_from_path; plant one: resuming must never read it.
    marker = tmp_path / "payload_ran"
    (tmp_path / "checkpoint" / "state.pkl").write_bytes(_payload(marker))
    _cli(*command, "--iterations", "4", "--out", str(tmp_path))  # the same command resumes from the checkpoint
    resumed = json.loads((tmp_path / "rllib.json").read_text())
    assert resumed["iterations"][:3] == report["iterations"]
    assert [row["iteration"] for row in resumed["iterations"]] == [1, 2, 3, 4]
    assert not marker.exists()


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(marker) -> bytes:
    return pickle.dumps(_Payload(marker))


def test_rllib_resume_refuses_a_pickled_learner_state(tmp_path, capsys):
    """A learner_state.pt that is a pickle payload is a one-line error, and the payload never runs."""
    (tmp_path / "checkpoint").mkdir()
    marker = tmp_path / "payload_ran"
    (tmp_path / "checkpoint" / "learner_state.pt").write_bytes(_payload(marker))
    pytest.importorskip("ray")
    from workflow_rl.rllib_state import restore_learner_state

    from trainkit import CheckpointError

    with pytest.raises(CheckpointError):
        restore_learner_state(None, tmp_path / "checkpoint")  # fails on load, before touching the algorithm
    assert not marker.exists()


def test_ray_tune_backend_gives_the_local_search_results(ray_cluster, tmp_path):
    tiny = ["--n-envs", "8", "--total-episodes", "32", "--max-episodes", "16", "--seed", "3", "--device", "cpu"]
    tiny += ["--compliance-threshold", "0.5"]
    summaries, episodes = {}, {}
    for backend in ("local", "ray"):
        out = tmp_path / backend
        _cli("train", *tiny, "--backend", backend, "--out", str(out))
        summaries[backend] = json.loads((out / "summary.json").read_text())
        with open(out / "episodes.csv", newline="") as handle:
            episodes[backend] = [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]
    assert len(summaries["ray"]["workflows"]) == 2
    assert summaries["ray"]["workflows"] == summaries["local"]["workflows"]
    assert summaries["ray"]["eval_return"] == summaries["local"]["eval_return"]
    assert episodes["ray"] == episodes["local"] and len(episodes["ray"]) == 32


def test_rllib_scaling_measures_one_and_two_env_runners(ray_cluster, tmp_path):
    _cli("rllib-scaling", "--env-runners", "1", "2", "--iterations", "2", "--repeats", "1", "--out", str(tmp_path))
    report = json.loads((tmp_path / "rllib_scaling.json").read_text())
    assert [row["env_runners"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["median_env_steps_per_s"] > 0
        assert [it["env_steps"] for it in row["iterations"][0]] == [2000, 2000]
    assert "2 runner(s)" in report["summary"]


def test_rllib_bad_settings_and_a_damaged_report_are_one_line_errors(tmp_path, capsys):
    pytest.importorskip("ray")
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "rllib.json").write_text("{ not json")
    for argv, message in [
        (["rllib", "--iterations", "0"], "--iterations: must be a positive integer"),
        (["rllib-scaling", "--env-runners", "1", "1"], "distinct counts"),
        (["rllib", "--iterations", "1", "--out", str(tmp_path)], "not readable JSON"),
    ]:
        try:
            code = run_cli(main, argv, prog="workflow_rl")
        except SystemExit as exit_:  # argparse refuses a bad value before the command runs
            code = exit_.code
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
    assert (tmp_path / "rllib.json").read_text() == "{ not json"  # nothing overwritten
