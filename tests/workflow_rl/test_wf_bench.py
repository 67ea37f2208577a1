"""The bench writes a contract-valid benchmark.json with every comparison the issue asks for."""

from __future__ import annotations

import pytest
from workflow_rl import bench

from trainkit.benchmark import read_benchmark

TINY = {
    "seeds": 2,
    "learn_envs": 4,
    "learn_episodes": 8,
    "quality_envs": 8,
    "quality_episodes": 16,
    "paths_n": (4,),
    "fast_n": (4, 16),
    "repeats": 1,
    "rounds": 1,
    "sb3_envs": 2,
    "sb3_steps": 200,
    "baseline_episodes": 40,
    "eval_episodes": 16,
}


@pytest.mark.slow
def test_tiny_bench_has_the_contract_and_every_comparison(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.PRESETS, "ci", TINY)
    path = bench.run_bench("ci", None, tmp_path, device="cpu")
    doc = read_benchmark(path)
    assert doc["seeds"] == [0, 1] and doc["speedup_basis"] == "wall_s" and doc["higher_is_better"]
    extra = doc["extra_comparisons"]
    assert {"throughput", "time_split", "sb3_subproc_peer", "engine_ablation", "fast_quality", "baselines"} <= set(
        extra
    )
    assert all(isinstance(item["summary"], str) and item["summary"] for item in extra.values())
    rows = {(r["path"], r["n_envs"]): r for r in extra["throughput"]["rows"]}
    assert set(rows) == {("original", 4), ("fast", 4), ("fast", 16)}
    assert all(r["episodes_per_s"] > 0 and r["share_of_ceiling"] > 0 for r in rows.values())
    assert set(extra["time_split"]["shares"]["fast"]) == {"env_step", "inference", "update", "logging"}
    assert sum(extra["time_split"]["shares"]["original"].values()) == pytest.approx(1.0)
    assert extra["sb3_subproc_peer"]["sb3_steps_per_s"] > 0
    baselines = extra["baselines"]["baselines"]
    assert baselines["sleep"]["return_mean"] < baselines["react_restore"]["return_mean"]
    for mode in ("original", "optimized"):
        assert all(-1300 < run["quality"] < 0 for run in doc["modes"][mode]["runs"])
    assert (tmp_path / "learning_curves.png").exists() and (tmp_path / "throughput.png").exists()
