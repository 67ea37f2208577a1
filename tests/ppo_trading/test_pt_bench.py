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
    assert _differences("original", "original_fast_eval") == {"fast_evaluation", "evaluate_combined"}
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
    assert quick.seeds >= 5 and quick.eval_freq * 10 == quick.total_timesteps  # a check every 10%, as the original
    for name in ARMS:
        for key, value in arm_hyperparameters(name, quick).items():
            assert value.source == "cited" and value.citation, (name, key)
    original = arm_hyperparameters("original", quick)
    assert "eval_callback.py" in original["evaluator"].citation and "train_ppo.py" in original["eval_freq"].citation
    assert arm_config("original", quick, 0, 1, "cpu", "").evaluate_combined


@pytest.mark.slow
def test_ci_bench_writes_a_schema_2_document_with_opponents(tmp_path):
    assert package_main(["bench", "--preset", "ci", "--seeds", "1", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "benchmark.json").read_text())
    assert doc["schema"] == 2 and set(doc["modes"]) == set(ARMS)
    assert len(doc["decomposition"]) == len(DECOMPOSITION)
    opponents = doc["extra_comparisons"]["degenerate_opponents"]["opponents"]
    assert {"buy_and_hold", "sma_crossover"} <= set(opponents)
    assert (tmp_path / "ppo_trading_arms.png").is_file()
