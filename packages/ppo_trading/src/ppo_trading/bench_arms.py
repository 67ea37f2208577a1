"""The bench's arms: the faithful original, one optimization added at a time, and optimized end to end.

Every arm is a :class:`TrainingConfig` difference on the same data, network and seed; each run trains
every walk-forward iteration in a temporary folder and reports the stitched out-of-sample excess log
return over buy-and-hold net of costs (the quality), its env steps and validation checks.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ppo_trading.utils.training_utils_optimized import TrainingConfig, train_walk_forward_optimized
from trainkit.harness import Hyperparameter, RunResult, cited

__all__ = ["ARMS", "BenchPreset", "arm_config", "arm_hyperparameters", "run_arm"]


@dataclass(frozen=True)
class BenchPreset:
    bars: int  # synthetic bars: generate_synthetic_xauusd(bars, BENCH_DATA_SEED)
    iterations: int
    train_bars: int
    val_bars: int
    total_timesteps: int  # T_0: the original's fixed per-iteration budget, where every arm starts
    eval_freq: int  # env steps between validation checks: 10% of T_0, as the original
    seeds: int
    throughput_steps: int  # env steps per set-up in the throughput comparison
    data_file: str | None = None  # a real OHLC file (its last ``bars`` bars); None = synthetic bars
    instrument: str = "xauusd"  # the cost model, named: never guessed from the file


# name -> (base mode, overrides, description); each arm adds one change to the arm before it.
ARMS: dict[str, tuple[str, dict[str, Any], str]] = {
    "original": (
        "original",
        {},
        "our re-implementation of the original's settings: fresh model and the full budget every iteration, SB3 "
        "predict on the validation window at every check",
    ),
    "original_fast_eval": (
        "original",
        {"fast_evaluation": True},
        "original + the fast evaluator (same actions as predict, tested)",
    ),
    "plus_adaptive_timesteps": (
        "original",
        {"fast_evaluation": True, "adaptive_timesteps": True},
        "+ adaptive timesteps T_i = max(T_min, T_0 * 0.95^i)",
    ),
    "plus_warm_start": (
        "original",
        {"fast_evaluation": True, "adaptive_timesteps": True, "warm_start": True},
        "+ warm start from the previous iteration's selected weights and Adam state",
    ),
    "plus_early_stop": (
        "original",
        {
            "fast_evaluation": True,
            "adaptive_timesteps": True,
            "warm_start": True,
            "early_stopping_patience": 3,
        },
        "+ early stopping inside the iteration (3 checks without improvement)",
    ),
    "optimized": (
        "optimized",
        {},
        "optimized end to end (the CLI default): all of the above + the feature cache and the batched VecEnv",
    ),
    "with_progressive_schedule": (
        "optimized",
        {"progressive_training": True},
        "optimized + the progressive schedule (off by default: this arm measures whether it helps)",
    ),
}

T_MIN_FRACTION = 0.3  # design document: 50,000 -> minimum 15,000


def arm_config(
    name: str,
    preset: BenchPreset,
    seed: int,
    threads: int,
    device: str,
    cache_dir: str,
    data: dict[str, Any] | None = None,
) -> TrainingConfig:
    """The arm's config; ``data`` carries the data's costs and bars per year (see bench.bench_data)."""
    base, overrides, _ = ARMS[name]
    sizes = {
        **(data or {}),
        "seed": seed,
        "total_timesteps": preset.total_timesteps,
        "min_timesteps": max(1, int(preset.total_timesteps * T_MIN_FRACTION)),
        "iterations": preset.iterations,
        "train_bars": preset.train_bars,
        "val_bars": preset.val_bars,
        "eval_freq": preset.eval_freq,
        "convergence_threshold": 0.0,
        "torch_threads": threads,
        "device": device,
        "feature_cache_dir": cache_dir,
        "backend": "serial",
        "verbose": 0,
    }
    factory = TrainingConfig.original if base == "original" else TrainingConfig.optimized
    return factory(**{**sizes, **overrides})


def arm_hyperparameters(name: str, preset: BenchPreset) -> dict[str, Hyperparameter]:
    """Where each setting comes from: the original project (P7AC1D/Synapse) or the design document."""
    config = arm_config(name, preset, 0, 1, "cpu", "")
    notes = "research notes /work/shared/notes/ppo_trading.md section 1"
    found = {
        "total_timesteps": cited(
            config.total_timesteps,
            f"bot/src/train_ppo.py (P7AC1D/Synapse @35e48bc, {notes}): 100,000 timesteps per iteration; scaled to "
            f"{preset.total_timesteps} so the bench fits 2 cores; the same T_0 in every arm",
        ),
        "eval_freq": cited(
            config.eval_freq,
            f"bot/src/train_ppo.py ({notes}): eval_freq 10,000 of 100,000 = a check every 10% of the budget",
        ),
        "evaluator": cited(
            "fast, validation only" if config.fast_evaluation else "SB3 predict, validation only",
            f"bot/src/callbacks/eval_callback.py UnifiedEvalCallback ({notes}): each check plays one deterministic "
            "episode on the validation window (and one on train+validation, for an in-sample selection score "
            "that no arm here uses, so none computes it)",
        ),
        "network": cited(
            "MlpLstmPolicy LSTM 64, heads [64], 16 envs x 16 steps, batch 256, lr 3e-4, 4 epochs",
            "the same in every arm (research notes section 4, 'Proposed spec'); the original's bigger network "
            "would confound the comparison",
        ),
    }
    if config.adaptive_timesteps:
        found["min_timesteps"] = cited(
            config.min_timesteps, "design document seeds/002 'Adaptive Timestep Reduction': 50,000 -> minimum 15,000"
        )
        found["timestep_decay"] = cited(config.timestep_decay, "design document seeds/002: 5% reduction per iteration")
    if config.early_stopping_patience:
        found["early_stopping_patience"] = cited(
            config.early_stopping_patience, "design document seeds/002: 'Stop if no improvement for 3 evaluations'"
        )
        found["convergence_threshold"] = cited(
            config.convergence_threshold, "design document seeds/002: any improvement counts (no min-delta given)"
        )
    if config.progressive_training:
        found["progressive_schedule"] = cited(
            "aggressive <30% / balanced <70% / fine_tune",
            f"bot/src/utils/training_utils_optimized.py TRAINING_SCHEDULES ({notes}): phase boundaries 30%/70%, "
            "learning rate and entropy falling, clip 0.2 -> 0.1; rates rescaled to this network's base 3e-4",
        )
    return found


def run_arm(df: pd.DataFrame, config: TrainingConfig) -> RunResult:
    """One full walk-forward run in a scratch folder; quality = out-of-sample excess over buy-and-hold."""
    with tempfile.TemporaryDirectory(prefix="ppo_trading_bench_") as run_dir:
        summary = train_walk_forward_optimized(df, config, run_dir)
    oos, test = summary["walk_forward_out_of_sample"], summary["test_vs_buy_and_hold"]
    quality = oos["excess_log_return_pct"]
    return RunResult(
        seed=config.seed,
        quality=quality,
        # Saving steps is what these arms do, so each runs its own budget from the same T_0 (see notes).
        quality_at_budget=quality,
        work={
            "env_steps": summary["env_steps_total"],
            "iterations": summary["iterations"],
            "validation_checks": summary["validation_checks"],
        },
        extra={
            "oos_ci95": oos["ci95"],
            "oos_verdict": oos["verdict"],
            "oos_agent_log_return_pct": oos["agent_log_return_pct"],
            "oos_buy_and_hold_log_return_pct": oos["buy_and_hold_log_return_pct"],
            "oos_max_drawdown": oos["max_drawdown"],
            "oos_turnover_per_bar": oos["turnover_per_bar"],
            "test_excess_log_return_pct": test["excess_log_return_pct"],
            "eval_s": summary["eval_seconds"],
            "early_stops": summary["early_stops"],
            "warm_starts": summary["warm_starts"],
        },
    )
