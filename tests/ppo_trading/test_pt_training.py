from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ppo_trading.compare import compare_runs
from ppo_trading.env import GoldTradingEnv
from ppo_trading.policy_store import load_policy, load_warm_model, save_policy
from ppo_trading.utils import training_utils_optimized as tuo
from ppo_trading.utils.training_utils_optimized import (
    CUSTOM_SCHEDULE,
    NETWORK,
    TrainingConfig,
    ValidationEarlyStopping,
    calculate_adaptive_timesteps,
    get_progressive_hyperparameters,
    train_walk_forward_optimized,
)
from ppo_trading.walk_forward import make_split, select_on_validation
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from trainkit import ConfigError

SEED_KEYS = {
    "optimization_completed",
    "total_speedup_achieved",
    "total_timesteps_saved",
    "early_stops",
    "warm_starts",
    "avg_iteration_time_minutes",
    "estimated_time_saved_hours",
}


def _log_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "training_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, bars):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    sizes = {"total_timesteps": 512, "min_timesteps": 256, "iterations": 2, "eval_freq": 256, "verbose": 0}
    sizes["feature_cache_dir"] = str(root / "cache")
    summaries = {
        "original": train_walk_forward_optimized(bars, TrainingConfig.original(seed=1, **sizes), root / "original"),
        "optimized": train_walk_forward_optimized(
            bars, TrainingConfig.optimized(seed=1, progressive_training=True, **sizes), root / "optimized"
        ),
    }
    return root, summaries


def test_adaptive_timesteps_follow_the_documented_formula():
    budgets = [calculate_adaptive_timesteps(i, 50_000, 15_000) for i in range(3)]
    assert budgets == [50_000, 47_500, 45_125]
    assert calculate_adaptive_timesteps(40, 50_000, 15_000) == 15_000


def test_progressive_schedule_changes_the_optimizer_learning_rate(arrays, tmp_path):
    features, prices = arrays
    env = DummyVecEnv([lambda: GoldTradingEnv(features, *prices, start=100, end=2100, episode_length=64)] * 2)
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=64, n_epochs=1, learning_rate=3e-4,
                         policy_kwargs=NETWORK, seed=0)  # fmt: skip
    model.learn(64)
    sha = save_policy(model, tmp_path / "m.pt", NETWORK)

    model.learning_rate = 1.234e-3  # what the original did: SB3 ignores it
    model.learn(64)
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)

    new = {"learning_rate": 1.234e-3, "n_epochs": 3, "ent_coef": 0.05, "clip_range": 0.1}
    loaded = load_warm_model(tmp_path / "m.pt", sha, env, new, seed=1, device="cpu")
    before = {k: v.clone() for k, v in loaded.policy.state_dict().items()}
    stored = load_policy(tmp_path / "m.pt", sha).state_dict()
    assert all(torch.equal(before[k], stored[k]) for k in stored)  # warm start keeps the weights
    assert loaded.policy.optimizer.state  # and Adam's moments
    loaded.learn(64)
    assert loaded.policy.optimizer.param_groups[0]["lr"] == pytest.approx(1.234e-3)
    assert loaded.n_epochs == 3 and loaded.ent_coef == 0.05 and loaded.clip_range(1.0) == 0.1

    early, late = get_progressive_hyperparameters(0, 8), get_progressive_hyperparameters(7, 8)
    assert early["learning_rate"] > late["learning_rate"] and early["ent_coef"] > late["ent_coef"]
    assert CUSTOM_SCHEDULE["ultra_fast"] == {"learning_rate": 3e-3, "n_epochs": 3, "ent_coef": 0.1}


def _callback_run(arrays, tmp_path, patience: int, min_delta: float) -> tuple[RecurrentPPO, ValidationEarlyStopping]:
    features, prices = arrays
    env = DummyVecEnv([lambda: GoldTradingEnv(features, *prices, start=100, end=2100, episode_length=64)] * 4)
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=16, batch_size=64, n_epochs=1, policy_kwargs=NETWORK, seed=0)
    callback = ValidationEarlyStopping(
        GoldTradingEnv(features, *prices, start=2101, end=2301),
        eval_freq=64,  # one 4 x 16 rollout
        best_model_path=tmp_path / "best.pt",
        evaluator="fast",
        patience=patience,
        min_delta=min_delta,
    )
    model.learn(640, callback=callback)
    return model, callback


def test_early_stopping_stops_inside_the_iteration(arrays, tmp_path):
    # No improvement can beat a min delta of 1e9, so training stops after 1 + patience evaluations.
    model, callback = _callback_run(arrays, tmp_path, patience=2, min_delta=1e9)
    assert callback.early_stopped and len(callback.history) == 3
    assert model.num_timesteps == 4 * 64 < 640  # the first rollout's check is skipped: no update yet
    assert (tmp_path / "best.pt").is_file()
    model, callback = _callback_run(arrays, tmp_path, patience=0, min_delta=1e9)  # 0 disables
    # 9 checks during training (rollouts 2-10) plus the weights of the last update, scored at the end
    assert not callback.early_stopped and model.num_timesteps == 640 and len(callback.history) == 10
    assert len({score for _, score in callback.history}) > 1


def test_weights_no_update_touched_are_never_scored_or_selected(arrays, tmp_path):
    """The issue's EURUSD symptom: the untrained network was 'best' in 4 of 5 iterations."""
    features, prices = arrays
    env = DummyVecEnv([lambda: GoldTradingEnv(features, *prices, start=100, end=2100, episode_length=64)] * 4)
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=16, batch_size=64, n_epochs=1, policy_kwargs=NETWORK, seed=0)
    initial = {k: v.clone() for k, v in model.policy.state_dict().items()}
    callback = ValidationEarlyStopping(GoldTradingEnv(features, *prices, start=2101, end=2301), eval_freq=64,
                                       best_model_path=tmp_path / "best.pt", evaluator="fast", patience=0,
                                       min_delta=0.0)  # fmt: skip
    model.learn(64, callback=callback)  # one rollout, one update: only the end-of-training check scores
    assert [step for step, _ in callback.history] == [64]
    best = load_policy(tmp_path / "best.pt", callback.best_sha256).state_dict()
    assert any(not torch.equal(best[k], initial[k]) for k in initial)


def test_split_is_chronological_with_an_untouched_test_block():
    split = make_split(10_000, warmup=97, iterations=8)
    assert split.test_start == 8_000 and split.test_end == 10_000
    for w in split.windows:
        assert w.train_end - w.train_start == 2_000 and w.val_end - w.val_start == 500
        assert w.val_start == w.train_end + 1  # the 1-bar gap
        assert w.train_start >= 97
    assert split.windows[-1].val_end == split.test_start  # the test block starts right after the last window
    assert [w.val_start for w in split.windows[1:]] == [w.val_end for w in split.windows[:-1]]  # tiled
    with pytest.raises(ConfigError, match="fit 1 to"):
        make_split(4_000, warmup=97, iterations=5, train_size=2_000, val_size=500)


@pytest.mark.parametrize("n_bars", [1_000, 2_335, 6_225])
def test_windows_scale_with_the_file(n_bars):
    """Any file of >= 1,000 bars runs; by default every window that fits is used."""
    split = make_split(n_bars, warmup=97)
    assert len(split.windows) >= 4 and split.windows[0].train_start >= 97
    assert split.windows[-1].val_end == split.test_start == int(0.8 * n_bars)
    with pytest.raises(ConfigError, match="--iterations"):
        make_split(n_bars, warmup=97, iterations=len(split.windows) + 1)
    with pytest.raises(ConfigError, match="at least 1000"):
        make_split(999, warmup=97)


def test_selection_takes_the_best_validation_score():
    assert select_on_validation([(0.1, "a"), (0.7, "b"), (0.3, "c")]) == (0.7, "b")
    assert select_on_validation([(0.5, "a"), (0.5, "b")]) == (0.5, "a")


def test_model_choice_never_sees_the_test_block(bars, tmp_kwargs_one_iteration, tmp_path):
    """Changing every test bar changes the test score but not the chosen model or its validation score."""
    config = TrainingConfig.optimized(**tmp_kwargs_one_iteration)
    first = train_walk_forward_optimized(bars, config, tmp_path / "a")
    altered = bars.copy()
    test_start = first["test_block"][0]
    for column in ("open", "high", "low", "close"):
        altered.loc[test_start:, column] = altered.loc[test_start:, column].to_numpy()[::-1]
    altered.loc[test_start:, ["high", "low"]] = np.column_stack(
        [altered.loc[test_start:, ["open", "close", "high", "low"]].max(axis=1),
         altered.loc[test_start:, ["open", "close", "high", "low"]].min(axis=1)]
    )  # fmt: skip
    second = train_walk_forward_optimized(altered, config, tmp_path / "b")
    assert [r["val_score"] for r in _log_rows(tmp_path / "a")] == [r["val_score"] for r in _log_rows(tmp_path / "b")]
    params_a = load_policy(tmp_path / "a" / "best_model.pt").state_dict()
    params_b = load_policy(tmp_path / "b" / "best_model.pt").state_dict()
    assert all(torch.equal(params_a[k], params_b[k]) for k in params_a)
    assert first["test_metrics"]["total_return"] != second["test_metrics"]["total_return"]


@pytest.fixture()
def tmp_kwargs_one_iteration(tiny_config_kwargs):
    return {**tiny_config_kwargs, "iterations": 1}


def test_outputs_and_summary_keys_come_from_measurements(finished_runs):
    root, summaries = finished_runs
    for mode in summaries:
        run_dir = root / mode
        for name in ("best_model.pt", "training_log.csv", "optimization_summary.json", "test_metrics.json",
                     "equity_curve.png"):  # fmt: skip
            assert (run_dir / name).is_file(), name
        on_disk = json.loads((run_dir / "optimization_summary.json").read_text())
        assert set(on_disk) >= SEED_KEYS and on_disk["mode"] == mode
        assert on_disk["optimization_completed"] is True
        assert on_disk["total_speedup_achieved"] is None and on_disk["estimated_time_saved_hours"] is None
        assert on_disk["avg_iteration_time_minutes"] > 0
        rows = _log_rows(run_dir)
        assert on_disk["env_steps_total"] == sum(int(r["env_steps"]) for r in rows)
        assert on_disk["total_timesteps_saved"] == 512 * 2 - on_disk["env_steps_total"]
        test = json.loads((run_dir / "test_metrics.json").read_text())
        assert set(test["baselines"]) == {"buy_and_hold", "flat", "random", "sma_crossover"}
        assert {"total_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor", "costs_paid"} <= set(
            test["agent"]
        )
    assert summaries["original"]["warm_starts"] == 0
    assert summaries["optimized"]["warm_starts"] == 1
    assert [r["warm_started"] for r in _log_rows(root / "optimized")] == ["0", "1"]
    assert [r["phase"] for r in _log_rows(root / "optimized")] == ["aggressive", "balanced"]
    assert [r["phase"] for r in _log_rows(root / "original")] == ["fixed", "fixed"]


def test_compare_prints_a_table_and_writes_a_plot(finished_runs, tmp_path):
    root, _ = finished_runs
    table = compare_runs(root / "original", root / "optimized", tmp_path / "cmp.png")
    assert "training wall ratio" in table and "test Sharpe" in table
    assert (tmp_path / "cmp.png").stat().st_size > 1000


def test_compare_refuses_runs_on_different_data(finished_runs, tmp_path):
    root, _ = finished_runs
    other = tmp_path / "other"
    other.mkdir()
    summary = json.loads((root / "original" / "optimization_summary.json").read_text())
    summary["data_sha256"] = "0" * 64
    (other / "optimization_summary.json").write_text(json.dumps(summary))
    (other / "test_metrics.json").write_text((root / "original" / "test_metrics.json").read_text())
    with pytest.raises(ConfigError, match="different data"):
        compare_runs(other, root / "optimized", tmp_path / "x.png")


def test_a_run_interrupted_mid_iteration_resumes_from_the_last_finished_one(bars, tiny_config_kwargs, tmp_path,
                                                                              monkeypatch):  # fmt: skip
    config = TrainingConfig.optimized(**tiny_config_kwargs)
    real_evaluate = ValidationEarlyStopping._evaluate
    calls = {"n": 0}

    def interrupt_in_second_iteration(self):
        calls["n"] += 1
        if self.best_model_path.name.startswith("iter001"):
            raise KeyboardInterrupt  # what Ctrl-C or a kill does mid-iteration
        return real_evaluate(self)

    monkeypatch.setattr(ValidationEarlyStopping, "_evaluate", interrupt_in_second_iteration)
    with pytest.raises(KeyboardInterrupt):
        train_walk_forward_optimized(bars, config, tmp_path)
    assert [r["iteration"] for r in _log_rows(tmp_path)] == ["0"]
    assert not (tmp_path / "optimization_summary.json").exists()
    monkeypatch.setattr(ValidationEarlyStopping, "_evaluate", real_evaluate)
    summary = train_walk_forward_optimized(bars, config, tmp_path)
    assert summary["resumed_from_iteration"] == 1 and summary["optimization_completed"]
    assert [r["iteration"] for r in _log_rows(tmp_path)] == ["0", "1"]
    with pytest.raises(ConfigError, match="other data or settings"):
        train_walk_forward_optimized(bars, TrainingConfig.original(**tiny_config_kwargs), tmp_path)


def test_parallel_candidates_keep_the_best_on_validation(bars, tmp_kwargs_one_iteration, tmp_path):
    config = TrainingConfig.optimized(**tmp_kwargs_one_iteration, parallel_candidates=2, backend="serial")
    summary = train_walk_forward_optimized(bars, config, tmp_path)
    rows = _log_rows(tmp_path)
    assert len(rows) == 2 and len({r["seed"] for r in rows}) == 2
    best = max(rows, key=lambda r: float(r["val_score"]))
    assert best["selected"] == "1" and sum(int(r["selected"]) for r in rows) == 1
    assert summary["env_steps_total"] == sum(int(r["env_steps"]) for r in rows)  # every candidate's steps count


def test_impossible_configs_are_config_errors():
    with pytest.raises(ConfigError, match="exceeds"):
        TrainingConfig(total_timesteps=100, min_timesteps=200).check()
    with pytest.raises(ConfigError, match="backend"):
        TrainingConfig(backend="dask").check()
    with pytest.raises(ConfigError):
        tuo.run_candidates([], backend="nope")
    assert TrainingConfig.original().mode == "original" and TrainingConfig.optimized().mode == "optimized"
