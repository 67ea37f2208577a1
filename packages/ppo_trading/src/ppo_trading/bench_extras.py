"""The bench's extra comparisons: degenerate opponents on the same bars, throughput and the evaluators."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_trading import bench_throughput
from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import BASELINES, baseline_policy, evaluate_model, run_episode
from ppo_trading.features import FeatureConfig, compute_features, standardize
from ppo_trading.reporting import compare_to_buy_and_hold
from ppo_trading.utils.training_utils_optimized import NETWORK, TrainingConfig, cost_model
from ppo_trading.walk_forward import Split, make_split

__all__ = ["compare_evaluators", "degenerate_opponents", "measure_throughput"]


def _split(df: pd.DataFrame, config: TrainingConfig) -> Split:
    return make_split(len(df), FeatureConfig().warmup, config.iterations, config.train_bars, config.val_bars,
                      test_fraction=config.test_fraction)  # fmt: skip


def _arrays(df: pd.DataFrame, split: Split) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    last = split.windows[-1]
    features, _, _ = standardize(compute_features(df), slice(last.train_start, last.train_end))
    return features, (df["open"].to_numpy(float), df["close"].to_numpy(float), df["spread"].to_numpy(float))


def degenerate_opponents(df: pd.DataFrame, config: TrainingConfig, agents: dict[str, float]) -> dict[str, Any]:
    """Buy-and-hold, SMA crossover, flat and random over the agents' out-of-sample bars, same accounting.

    ``agents`` maps arm name to its median out-of-sample excess log return; the summary says plainly
    whether an opponent beats the optimized agent.
    """
    split = _split(df, config)
    features, prices = _arrays(df, split)
    segments = [(w.val_start, w.val_end) for w in split.windows] + [(split.test_start, split.test_end)]
    returns: dict[str, list[np.ndarray]] = {name: [] for name in BASELINES}
    for start, end in segments:
        for name in BASELINES:
            env = GoldTradingEnv(features, *prices, start=start, end=end, costs=cost_model(config))
            returns[name].append(np.diff(np.log(run_episode(env, baseline_policy(name, env, seed=0)).equity)))
    hold = np.concatenate(returns["buy_and_hold"])
    rows = {name: compare_to_buy_and_hold(np.concatenate(r), hold) for name, r in returns.items()}
    optimized = agents.get("optimized", float("nan"))
    beaten_by = [name for name, row in rows.items() if row["excess_log_return_pct"] > optimized]
    summary = (
        f"over {len(hold)} out-of-sample bars buy-and-hold made {rows['buy_and_hold']['agent_log_return_pct']:+.2f}% "
        f"(log); SMA crossover excess {rows['sma_crossover']['excess_log_return_pct']:+.2f} points; optimized agent "
        f"median excess {optimized:+.2f} points; "
        + (f"beaten by: {', '.join(beaten_by)}" if beaten_by else "no degenerate opponent beats the optimized agent")
    )
    return {"summary": summary, "opponents": rows, "agents_median_excess_pct": agents, "beaten_by": beaten_by}


def measure_throughput(df: pd.DataFrame, config: TrainingConfig, steps: int, device: str) -> dict[str, Any]:
    """RecurrentPPO on DummyVecEnv vs the batched env over the first training window (bench_throughput)."""
    split = _split(df, config)
    features, prices = _arrays(df, split)
    return bench_throughput.measure_throughput(features, prices, split.windows[0], config, steps, device)


def compare_evaluators(df: pd.DataFrame, config: TrainingConfig) -> dict[str, Any]:
    """Sequential ``predict`` vs the fast evaluator on the test block: CPU time and identical actions."""
    split = _split(df, config)
    features, prices = _arrays(df, split)

    def env() -> GoldTradingEnv:
        return GoldTradingEnv(features, *prices, start=split.test_start, end=split.test_end, costs=cost_model(config))

    model = RecurrentPPO("MlpLstmPolicy", DummyVecEnv([env]), n_steps=16, policy_kwargs=NETWORK, seed=0)
    cpu, actions = {}, {}
    for name in ("sequential", "fast"):
        started = time.process_time()
        actions[name] = evaluate_model(model, env(), name).actions
        cpu[name] = time.process_time() - started
    same = actions["sequential"] == actions["fast"]
    return {
        "summary": f"over {len(actions['fast'])} test bars the fast evaluator used {cpu['fast']:.3f} CPU-s, "
        f"predict {cpu['sequential']:.3f} CPU-s; identical actions: {same}",
        "cpu_s": cpu,
        "bars": len(actions["fast"]),
        "identical_actions": same,
    }
