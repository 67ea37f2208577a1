"""After the last iteration: the test block, the stitched out-of-sample curve, the summary and its plot."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ppo_trading.candidates import cost_model
from ppo_trading.config import TrainingConfig
from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import BASELINES, baseline_policy, evaluate_model, run_episode, trading_metrics
from ppo_trading.policy_store import (
    load_policy,
)
from ppo_trading.reporting import compare_to_buy_and_hold, equity_stats
from trainkit import (
    atomic_write,
)
from trainkit.plotting import new_figure, save_figure


def evaluate_on_test(
    model_path: str | os.PathLike[str],
    sha256: str,
    features: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray],
    split: Any,
    config: TrainingConfig,
) -> dict[str, Any]:
    """The selected model and the baselines on the test block, through the same accounting."""
    start, end = split.test_start, split.test_end
    costs = cost_model(config)

    def env() -> GoldTradingEnv:
        return GoldTradingEnv(features, *prices, start=start, end=end, costs=costs)

    model = load_policy(model_path, sha256, device=config.device)
    records = {"agent": evaluate_model(model, env(), "sequential")}
    for name in BASELINES:
        baseline_env = env()
        records[name] = run_episode(baseline_env, baseline_policy(name, baseline_env, seed=config.seed))
    agent, hold = (np.diff(np.log(records[name].equity)) for name in ("agent", "buy_and_hold"))
    return {
        "test_bars": [start, end],
        "agent": trading_metrics(records["agent"], config.bars_per_year),
        "baselines": {name: trading_metrics(records[name], config.bars_per_year) for name in BASELINES},
        "vs_buy_and_hold": compare_to_buy_and_hold(agent, hold, seed=config.seed),
        "equity_curves": {name: [round(v, 4) for v in record.equity] for name, record in records.items()},
        "positions": records["agent"].positions,
    }


def stitched_report(
    iterations: list[dict[str, Any]],
    split: Any,
    features: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: dict[str, Any],
    config: TrainingConfig,
) -> dict[str, Any]:
    """Every iteration's selected model on its validation window, then the final model on the test block.

    Validation windows tile the bars up to the test block, so this is one out-of-sample curve (with
    respect to training; selection saw the validation part). Buy-and-hold runs over the same bars.
    """
    agent, hold, positions = [], [], []
    for it, window in zip(iterations, split.windows):
        env = GoldTradingEnv(features, *prices, start=window.val_start, end=window.val_end, costs=cost_model(config))
        agent.append(np.diff(np.log(it["val_equity"])))
        hold.append(np.diff(np.log(run_episode(env, baseline_policy("buy_and_hold", env)).equity)))
        positions += list(it["val_positions"])
    agent.append(np.diff(np.log(test["equity_curves"]["agent"])))
    hold.append(np.diff(np.log(test["equity_curves"]["buy_and_hold"])))
    positions += list(test["positions"])
    agent_returns = np.concatenate(agent)
    report = compare_to_buy_and_hold(agent_returns, np.concatenate(hold), seed=config.seed)
    curve = np.exp(np.concatenate([[0.0], np.cumsum(agent_returns)]))
    report.update(equity_stats(curve, positions))
    report["bars_covered"] = [split.windows[0].val_start, split.test_end]
    return report


def build_summary(
    config: TrainingConfig,
    state: dict[str, Any],
    test: dict[str, Any],
    data_hash: str,
    n_iterations: int,
    split: Any,
) -> dict[str, Any]:
    """The seed's keys, from this run's measurements; the speedup needs an original run, so null here."""
    iterations = state["iterations"]
    env_steps = sum(it["env_steps"] for it in iterations)
    wall = sum(it["wall_s"] for it in iterations)
    fixed_budget = config.total_timesteps * config.parallel_candidates * len(iterations)
    return {
        "optimization_completed": len(iterations) == n_iterations,
        "total_speedup_achieved": None,
        "speedup_basis": "null unless --benchmark_mode measured an original run on the same data and seed",
        "total_timesteps_saved": fixed_budget - env_steps,
        "early_stops": sum(it["early_stops"] for it in iterations),
        "warm_starts": sum(int(it["warm_started"]) for it in iterations),
        "avg_iteration_time_minutes": wall / len(iterations) / 60.0 if iterations else None,
        "iteration_seconds": [it["wall_s"] for it in iterations],
        "estimated_time_saved_hours": None,
        "mode": config.mode,
        "config": asdict(config),
        "seed": config.seed,
        "data_sha256": data_hash,
        "iterations": len(iterations),
        "env_steps_total": env_steps,
        "wall_seconds_training": wall,
        "eval_seconds": sum(it["eval_s"] for it in iterations),
        "validation_checks": sum(it["validation_checks"] for it in iterations),
        "test_block": [split.test_start, split.test_end],
        "test_metrics": {
            **test["agent"],
            "turnover_per_bar": equity_stats(test["equity_curves"]["agent"], test["positions"])["turnover_per_bar"],
        },
        "test_vs_buy_and_hold": test["vs_buy_and_hold"],
        "walk_forward_out_of_sample": test["walk_forward_out_of_sample"],
        "verdict": f"agent {test['walk_forward_out_of_sample']['verdict']} on the walk-forward out-of-sample bars; "
        f"on the test block it {test['vs_buy_and_hold']['verdict']}",
        "bars_per_year": config.bars_per_year,
        "baseline_metrics": test["baselines"],
    }


def data_span(times: Any, split: Any) -> dict[str, Any]:
    """The parsed timestamps a run trained and tested on, so a reader can check the file was read right."""

    def at(index: int) -> str:
        return times.iloc[index].strftime("%Y-%m-%d %H:%M:%S")

    return {
        "bars": len(times),
        "first": at(0),
        "last": at(len(times) - 1),
        "test_first": at(split.test_start),
        "test_last": at(split.test_end - 1),
    }


def plot_equity_curves(curves: dict[str, Sequence[float]], path: Path, title: str) -> None:
    fig, axes = new_figure(figsize=(8, 4))
    ax = axes[0][0]
    for name, equity in curves.items():
        ax.plot(np.asarray(equity) / equity[0], label=name, lw=2 if name == "agent" else 1)
    ax.set_xlabel("test bar")
    ax.set_ylabel("equity / initial")
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=90)


def finite_json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and every NaN or infinity as ``None``."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [finite_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Strict JSON (no bare NaN or Infinity tokens: a non-finite number is written as null)."""
    text = json.dumps(finite_json(payload), indent=2, allow_nan=False, default=str)
    with atomic_write(path) as handle:
        handle.write(text + "\n")
