"""The bench's arms: each adds one change to the arm before it, and every setting says where it comes from."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from ppo_trading.bench import DECOMPOSITION, PRESETS
from ppo_trading.bench_arms import ARMS, arm_config, arm_hyperparameters
from ppo_trading.cli import main as package_main

CHAIN = ["original", "original_fast_eval", "plus_adaptive_timesteps", "plus_warm_start", "plus_early_stop"]


def _differences(a: str, b: str) -> set[str]:
    left, right = (asdict(arm_config(n, PRESETS["quick"], 0, 1, "cpu", "")) for n in (a, b))
    return {key for key in left if left[key] != right[key]}


def test_each_decomposition_arm_adds_one_optimization():
    assert _differences("original", "original_fast_eval") == {"fast_evaluation"}
    assert _differences("original_fast_eval", "plus_adaptive_timesteps") == {"adaptive_timesteps"}
    assert _differences("plus_adaptive_timesteps", "plus_warm_start") == {"warm_start"}
    assert _differences("plus_warm_start", "plus_early_stop") == {"early_stopping_patience"}
    assert _differences("plus_early_stop", "optimized") == {"cache_environments", "batched_env"}
    assert _differences("optimized", "with_progressive_schedule") == {"progressive_training"}
    assert [(d.baseline, d.variant) for d in DECOMPOSITION[:5]] == list(zip(CHAIN, [*CHAIN[1:], "optimized"]))
    assert arm_config("original", PRESETS["quick"], 0, 1, "cpu", "").mode == "original"
    assert arm_config("optimized", PRESETS["quick"], 0, 1, "cpu", "").mode == "optimized"


def test_every_arm_cites_its_settings_and_the_original_is_faithful():
    quick = PRESETS["quick"]
    assert quick.seeds >= 10 and quick.eval_freq * 10 == quick.total_timesteps  # a check every 10%, as the original
    for name in ARMS:
        for key, value in arm_hyperparameters(name, quick).items():
            assert value.source == "cited" and value.citation, (name, key)
    original = arm_hyperparameters("original", quick)
    assert "eval_callback.py" in original["evaluator"].citation and "train_ppo.py" in original["eval_freq"].citation
    assert not arm_config("original", quick, 0, 1, "cpu", "").fast_evaluation


@pytest.mark.slow
def test_ci_bench_writes_a_schema_2_document_with_opponents(tmp_path):
    from ppo_trading.datasets_report import README

    readme = README.read_text()
    assert package_main(["bench", "--preset", "ci", "--seeds", "1", "--out", str(tmp_path)]) == 0
    assert README.read_text() == readme  # only the default preset (the committed evidence) rewrites the README
    doc = json.loads((tmp_path / "benchmark.json").read_text())
    assert doc["schema"] == 2 and set(doc["modes"]) == set(ARMS)
    assert len(doc["decomposition"]) == len(DECOMPOSITION)
    opponents = doc["extra_comparisons"]["degenerate_opponents"]["opponents"]
    assert {"buy_and_hold", "sma_crossover"} <= set(opponents)
    assert (tmp_path / "ppo_trading_arms.png").is_file()
    datasets = doc["extra_comparisons"]["datasets"]["rows"]
    assert "synthetic: the agent" in doc["extra_comparisons"]["datasets"]["summary"]
    assert set(datasets) == {"synthetic", "real"} and "FOREX_EURUSD_1H_ASK.csv" in datasets["real"]["data"]
    assert all(row["agent"]["seeds"] == 1 and row["verdict"].startswith("the agent") for row in datasets.values())
    assert doc["extra_comparisons"]["throughput"]["amdahl_bound_env_free"] > 1


def test_throughput_splits_learn_cpu_and_bounds_what_a_faster_env_can_give():
    from ppo_trading.bench import bench_data
    from ppo_trading.bench_extras import measure_throughput

    preset = PRESETS["ci"]
    df, data, _ = bench_data(preset)
    result = measure_throughput(df, arm_config("optimized", preset, 0, 1, "cpu", "", data), 512, "cpu")
    for name in ("dummy_vec_env", "batched_vec_env"):
        rates = result["rates"][name]
        shares = rates["cpu_shares"]
        assert set(shares) == {"env_step", "policy_forward_rollout", "update", "other"}
        assert sum(shares.values()) == pytest.approx(1.0) and all(0 <= v < 1 for v in shares.values())
        assert shares["env_step"] > 0 and shares["policy_forward_rollout"] > 0 and shares["update"] > 0
        assert rates["learn_env_steps"] == 512 and rates["learn_env_steps_per_cpu_s"] > 0
    env_share = result["rates"]["dummy_vec_env"]["cpu_shares"]["env_step"]
    assert result["amdahl_bound_env_free"] == pytest.approx(1 / (1 - env_share))
    assert "Amdahl" in result["summary"] and f"{result['batched_over_dummy_learn']:.2f}x" in result["summary"]


def test_the_cpu_profile_leaves_the_model_and_env_as_it_found_them(arrays):
    from ppo_trading.bench_throughput import cpu_profile
    from ppo_trading.config import NETWORK
    from ppo_trading.vec_env import BatchedTradingVecEnv
    from sb3_contrib import RecurrentPPO

    features, prices = arrays
    model = RecurrentPPO("MlpLstmPolicy", BatchedTradingVecEnv(2, features, *prices, 100, 600, 32), n_steps=8,
                         batch_size=16, n_epochs=1, policy_kwargs=NETWORK, seed=0)  # fmt: skip
    profile = cpu_profile(model, 32)
    assert profile["env_steps"] == 32 and profile["cpu_s"] > 0
    assert "train" not in vars(model) and "forward" not in vars(model.policy) and "step_wait" not in vars(model.env)
