"""The training command line shared by ``train_ppo.py`` (original) and ``train_ppo_optimized.py``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ppo_trading.data import load_ohlc
from ppo_trading.presets import PRESETS
from ppo_trading.utils.training_utils_optimized import (
    BACKENDS,
    CUSTOM_SCHEDULE,
    TrainingConfig,
    train_walk_forward_optimized,
    write_json_atomic,
)
from trainkit import ConfigError, RunResult, resolve_device, run_interleaved

__all__ = ["add_train_arguments", "build_parser", "config_from_args", "run_training", "train_main"]

OPTIMIZATION_FLAGS = (
    "adaptive_timesteps",
    "warm_start",
    "progressive_training",
    "cache_environments",
    "fast_evaluation",
)


def build_parser(prog: str, original_by_default: bool) -> argparse.ArgumentParser:
    mode = "original (fresh model, fixed timesteps)" if original_by_default else "optimized (all optimizations on)"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Walk-forward RecurrentPPO training on 15-minute gold bars; default mode: {mode}. "
        "Outputs go to RESULTS_DIR/<seed>/ and a re-run of the same command resumes.",
    )
    return add_train_arguments(parser, original_by_default)


def add_train_arguments(parser: argparse.ArgumentParser, original_by_default: bool) -> argparse.ArgumentParser:
    parser.add_argument("--data_path", default="data/XAUUSDm_15min.csv", help="OHLC CSV (time,open,high,low,close,...)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results_dir", default="results", help="outputs go to RESULTS_DIR/<seed>/")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="full",
        help="run size: ci (seconds), quick (minutes), full (the design document's 50,000/15,000 timesteps)",
    )
    parser.add_argument("--total_timesteps", type=int, default=None, help="timesteps per iteration (T_0)")
    parser.add_argument("--min_timesteps", type=int, default=None, help="floor of the adaptive budget")
    parser.add_argument("--iterations", type=int, default=None, help="walk-forward iterations (default: preset's)")
    parser.add_argument("--max_bars", type=int, default=None, help="use only the first N bars (default: preset's)")
    parser.add_argument("--eval_freq", type=int, default=None, help="env steps between validation checks")
    for flag in OPTIMIZATION_FLAGS:
        parser.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--early_stopping_patience", type=int, default=None, help="validation checks without improvement; 0 disables"
    )
    parser.add_argument(
        "--convergence_threshold",
        type=float,
        default=0.05,
        help="min improvement of the validation score (%% log return)",
    )
    parser.add_argument("--custom_schedule", choices=sorted(CUSTOM_SCHEDULE), default=None)
    parser.add_argument(
        "--use_original_training",
        action="store_true",
        default=original_by_default,
        help="fresh model and a fixed number of timesteps each iteration (every optimization off)",
    )
    parser.add_argument(
        "--benchmark_mode",
        action="store_true",
        help="run original and optimized on the same data and seed in this process and measure the speedup",
    )
    parser.add_argument(
        "--parallel_candidates", type=int, default=1, help="candidates per iteration, best on validation"
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default="process",
        help="executor for the candidates: a process pool on this machine, or Ray tasks (needs the "
        "`distributed` extra) on this machine or a cluster",
    )
    parser.add_argument(
        "--max_workers",
        type=int,
        default=None,
        help="at most N candidates at once (default: this machine's CPUs; with Ray, the cluster's)",
    )
    parser.add_argument(
        "--ray-address",
        "--ray_address",
        dest="ray_address",
        default=None,
        help="with --backend ray: 'auto' joins the cluster started by `ray start --head`, or give HOST:PORT "
        "(default: RAY_ADDRESS if set, else a local Ray)",
    )
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    return parser


def config_from_args(args: argparse.Namespace, original: bool) -> TrainingConfig:
    """Mode defaults first, then the preset's sizes, then every flag the user gave."""
    preset = PRESETS[args.preset]
    overrides: dict[str, Any] = {
        "seed": args.seed,
        "total_timesteps": args.total_timesteps or preset.total_timesteps,
        "min_timesteps": args.min_timesteps or preset.min_timesteps,
        "iterations": args.iterations if args.iterations is not None else preset.iterations,
        "eval_freq": args.eval_freq or preset.eval_freq,
        "convergence_threshold": args.convergence_threshold,
        "custom_schedule": args.custom_schedule,
        "parallel_candidates": args.parallel_candidates,
        "backend": args.backend,
        "max_workers": args.max_workers,
        "ray_address": args.ray_address,
        "verbose": args.verbose,
        "device": str(resolve_device(args.device)),
    }
    if args.total_timesteps and not args.min_timesteps:
        overrides["min_timesteps"] = min(preset.min_timesteps, args.total_timesteps)
    for flag in OPTIMIZATION_FLAGS:
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.early_stopping_patience is not None:
        overrides["early_stopping_patience"] = args.early_stopping_patience
    config = TrainingConfig.original(**overrides) if original else TrainingConfig.optimized(**overrides)
    config.check()
    return config


def _load(args: argparse.Namespace) -> pd.DataFrame:
    df = load_ohlc(args.data_path)
    max_bars = args.max_bars if args.max_bars is not None else PRESETS[args.preset].max_bars
    if max_bars is not None:
        if max_bars < 2:
            raise ConfigError(f"--max_bars must be >= 2, got {max_bars}")
        df = df.iloc[:max_bars].reset_index(drop=True)
    return df


def _print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    test, bh = summary["test_metrics"], summary["baseline_metrics"]["buy_and_hold"]
    speedup = summary["total_speedup_achieved"]
    print(
        f"{summary['mode']} seed {summary['seed']}: {summary['iterations']} iterations, "
        f"{summary['env_steps_total']} env steps, {summary['wall_seconds_training']:.1f} s training; "
        f"test return {100 * test['total_return']:.2f}% (Sharpe {test['sharpe']:.2f}) vs buy-and-hold "
        f"{100 * bh['total_return']:.2f}%; speedup "
        + (f"{speedup:.2f}x (measured)" if speedup is not None else "not measured (use --benchmark_mode)")
        + f"; outputs in {run_dir}"
    )


def train_main(argv: Sequence[str] | None, prog: str, original_by_default: bool) -> int:
    return run_training(build_parser(prog, original_by_default).parse_args(argv))


def run_training(args: argparse.Namespace) -> int:
    """Train one mode, or both with ``--benchmark_mode``, into RESULTS_DIR/<seed>/."""
    df = _load(args)
    seed_dir = Path(args.results_dir) / str(args.seed)
    if not args.benchmark_mode:
        config = config_from_args(args, original=args.use_original_training)
        summary = train_walk_forward_optimized(df, config, seed_dir)
        if args.verbose:
            _print_summary(summary, seed_dir)
        return 0

    configs = {"original": config_from_args(args, original=True), "optimized": config_from_args(args, original=False)}
    summaries: dict[str, dict[str, Any]] = {}

    def runner(mode: str):
        def run(seed: int) -> RunResult:
            started = time.perf_counter()
            reference = summaries["original"]["iteration_seconds"] if mode == "optimized" else None
            summaries[mode] = train_walk_forward_optimized(df, configs[mode], seed_dir / mode, reference)
            return RunResult(seed, time.perf_counter() - started)

        return run

    results = run_interleaved({mode: runner(mode) for mode in configs}, [args.seed], desc="benchmark_mode")
    walls = {mode: results[mode][0].wall_s for mode in configs}
    resumed = any(s["resumed_from_iteration"] for s in summaries.values())
    optimized = summaries["optimized"]
    if not resumed:
        optimized["total_speedup_achieved"] = walls["original"] / walls["optimized"]
        optimized["estimated_time_saved_hours"] = (walls["original"] - walls["optimized"]) / 3600.0
        optimized["speedup_basis"] = "measured: original wall / optimized wall, same data and seed, one process"
    else:
        optimized["speedup_basis"] = "null: a run was resumed, so its wall time is partial"
    comparison = {"seed": args.seed, "wall_s": walls, "resumed": resumed, "summaries": summaries}
    write_json_atomic(seed_dir / "benchmark_comparison.json", comparison)
    write_json_atomic(seed_dir / "optimized" / "optimization_summary.json", optimized)
    for mode in configs:
        _print_summary(summaries[mode], seed_dir / mode)
    return 0
