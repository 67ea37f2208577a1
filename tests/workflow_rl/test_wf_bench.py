"""The bench writes a contract-v2 benchmark.json with every arm and comparison the issue asks for."""

from __future__ import annotations

import json

import numpy as np
import pytest
from workflow_rl import bench
from workflow_rl.bench_peers import SB3VecEnv
from workflow_rl.cli import main

TINY = bench.Preset(
    seeds=2,
    n_envs=4,
    episodes=8,
    eval_episodes=8,
    throughput_n=(4,),
    throughput_episodes=1,
    peer_env_steps=400,
    sim_episodes=50,
    quality_envs=8,
    quality_episodes=16,
    baseline_episodes=20,
)


def test_sb3_vecenv_adapter_steps_the_batched_simulator():
    env = SB3VecEnv(3)
    obs = env.reset()
    assert obs.shape == (3, 90)
    for _ in range(100):
        env.step_async(np.zeros(3, dtype=np.int64))
        obs, reward, done, infos = env.step_wait()
    assert done.all() and "terminal_observation" in infos[0] and reward.shape == (3,)


@pytest.mark.slow  # trains every arm twice, SB3 three times and the longer fast run: about a minute
def test_tiny_bench_has_the_contract_and_every_comparison(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.PRESETS, "ci", TINY)
    assert main(["bench", "--preset", "ci", "--out", str(tmp_path), "--device", "cpu"]) == 0
    doc = json.loads((tmp_path / "benchmark.json").read_text())
    assert set(doc["modes"]) == {"original", "engine_only", "cadence_only", "optimized"}
    assert len(doc["decomposition"]) == 3 and doc["speedup_cpu"] > 0
    extra = doc["extra_comparisons"]
    assert {"throughput", "peers", "simulator_alone", "opponents", "update_free_bound"} <= set(extra)
    # one ratio per seed, each above that seed's measured ratio: taking the update away can only help
    bound = extra["update_free_bound"]
    assert len(bound["per_seed"]) == len(doc["modes"]["original"]["runs"])
    assert bound["speedup_cpu_bound"] > doc["speedup_cpu"]
    assert doc["speedup_cpu"] < bound["speedup_cpu_at_update_flop_floor"] < bound["speedup_cpu_bound"]
    assert extra["throughput"]["update_profile"]["step_at_flop_floor_ms"] > 0
    assert all(isinstance(item["summary"], str) and item["summary"] for item in extra.values())
    assert len(extra["peers"]["rows"]) == 4 and all(r["env_steps_per_cpu_s"] > 0 for r in extra["peers"]["rows"])
    assert 0 < extra["throughput"]["update_cpu_share"] < 1
    opponents = extra["opponents"]
    assert opponents["baselines"]["sleep"] < opponents["baselines"]["react_restore"]
    assert opponents["best_constant_return"] < opponents["baselines"]["react_restore"]
    assert (tmp_path / "workflow_rl_bench.png").exists()
