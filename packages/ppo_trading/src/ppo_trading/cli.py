"""The training command line shared by ``train_ppo.py`` (original) and ``train_ppo_optimized.py``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ppo_trading.data import load_ohlc
from ppo_trading.features import FeatureConfig
from ppo_trading.instruments import INSTRUMENTS, CostSettings, resolve_costs
from ppo_trading.presets import PRESETS
from ppo_trading.timestamps import DATE_FORMATS, bars_per_year
from ppo_trading.utils.training_utils_optimized import (
    BACKENDS,
    CUSTOM_SCHEDULE,
    TrainingConfig,
    train_walk_forward_optimized,
    write_json_atomic,
)
from ppo_trading.walk_forward import make_split
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
    parser.add_argument(
        "--data_path",
        default="data/XAUUSDm_15min.csv",
        help="OHLC file: comma, semicolon or tab separated, with or without a header; ISO, day-first, "
        "MetaTrader (separate date and time) or epoch timestamps",
    )
    parser.add_argument(
        "--date_format",
        default="auto",
        help=f"how to read timestamps: one of {', '.join(DATE_FORMATS)} or a strftime format such as "
        "'%%d/%%m/%%Y %%H:%%M' (auto decides day-first vs month-first from the whole column)",
    )
    parser.add_argument(
        "--instrument",
        choices=["auto", *sorted(INSTRUMENTS)],
        default="auto",
        help="cost defaults: "
        + "; ".join(f"{k}: {v.description}" for k, v in INSTRUMENTS.items())
        + " (auto: from the file name, else the price scale)",
    )
    parser.add_argument("--point_size", type=_positive_float, default=None, help="price of one point (instrument's)")
    parser.add_argument(
        "--spread_points", type=_nonnegative_float, default=None, help="fixed spread in points (default: the file's "
        "spread column, else the instrument's)"
    )  # fmt: skip
    parser.add_argument("--slippage_points", type=_nonnegative_float, default=None, help="slippage per fill, points")
    parser.add_argument("--commission", type=_nonnegative_float, default=None, help="commission per fill, in bps")
    parser.add_argument("--train_bars", type=_positive_int, default=None, help="bars per training window (default: "
                        "scaled with the file, 2,000 at most)")  # fmt: skip
    parser.add_argument("--val_bars", type=_positive_int, default=None, help="bars per validation window and "
                        "step between windows (default: scaled with the file, 500 at most)")  # fmt: skip
    parser.add_argument("--test_fraction", type=_positive_float, default=0.2, help="final share of bars held out "
                        "for the test block, in (0, 0.5]")  # fmt: skip
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
    parser.add_argument(
        "--iterations", type=_positive_int, default=None, help="walk-forward iterations (default: as many as fit, "
        "capped by the preset: ci 2, quick 6)"
    )  # fmt: skip
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


def _number(kind: type, check, rule: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {rule}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
_positive_float = _number(float, lambda v: v > 0 and v < float("inf"), "a finite number > 0")
_nonnegative_float = _number(float, lambda v: v >= 0 and v < float("inf"), "a finite number >= 0")


def _data_settings(args: argparse.Namespace, df: pd.DataFrame, costs: CostSettings) -> dict[str, Any]:
    """Costs, bars per year and walk-forward sizes from the data and the flags."""
    preset = PRESETS[args.preset]
    split = make_split(
        len(df), FeatureConfig().warmup, args.iterations, args.train_bars, args.val_bars, 1, args.test_fraction
    )  # fmt: skip  (a bad size or --iterations fails here, before any work)
    iterations = args.iterations
    if iterations is None and preset.iterations is not None:
        iterations = min(preset.iterations, len(split.windows))
    return {
        "point_size": costs.point,
        "slippage_points": costs.slippage_points,
        "commission_bps": costs.commission_bps,
        "bars_per_year": round(bars_per_year(df["time"]), 3),
        "train_bars": args.train_bars,
        "val_bars": args.val_bars,
        "test_fraction": args.test_fraction,
        "iterations": iterations,
    }


def config_from_args(args: argparse.Namespace, original: bool, data: dict[str, Any] | None = None) -> TrainingConfig:
    """Mode defaults first, then the preset's sizes, then the data's settings, then every flag the user gave."""
    preset = PRESETS[args.preset]
    overrides: dict[str, Any] = {
        "seed": args.seed,
        "total_timesteps": args.total_timesteps or preset.total_timesteps,
        "min_timesteps": args.min_timesteps or preset.min_timesteps,
        "iterations": args.iterations if args.iterations is not None else preset.iterations,
        **(data or {}),
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


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any], CostSettings]:
    df = load_ohlc(args.data_path, args.date_format)
    max_bars = args.max_bars if args.max_bars is not None else PRESETS[args.preset].max_bars
    if max_bars is not None:
        if max_bars < 2:
            raise ConfigError(f"--max_bars must be >= 2, got {max_bars}")
        attrs = dict(df.attrs)
        df = df.iloc[:max_bars].reset_index(drop=True)
        df.attrs.update(attrs)
    df, costs = resolve_costs(df, args.data_path, args.instrument, args.point_size, args.spread_points,
                              args.slippage_points, args.commission)  # fmt: skip
    return df, _data_settings(args, df, costs), costs


def _print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    test, bh = summary["test_metrics"], summary["baseline_metrics"]["buy_and_hold"]
    oos = summary["walk_forward_out_of_sample"]
    low, high = oos["ci95"]
    print(
        f"verdict: the agent {oos['verdict']} over {oos['bars']} walk-forward out-of-sample bars "
        f"(excess log return {oos['excess_log_return_pct']:+.2f} points, 95% CI [{low:+.2f}, {high:+.2f}]; "
        f"max drawdown {100 * oos['max_drawdown']:.1f}%, turnover {oos['turnover_per_bar']:.3f} per bar)"
    )
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
    df, data, costs = _load(args)
    seed_dir = Path(args.results_dir) / str(args.seed)
    if args.verbose:
        print(
            f"{len(df)} bars, {data['bars_per_year']:.0f} bars/year from the timestamps; costs: {costs.instrument}, "
            f"point {costs.point:g}, spread from {costs.spread_source}, slippage {costs.slippage_points:g} points, "
            f"commission {costs.commission_bps:g} bps per fill"
        )
    if costs.warning:
        print(costs.warning, file=sys.stderr)
    if not args.benchmark_mode:
        config = config_from_args(args, original=args.use_original_training, data=data)
        summary = train_walk_forward_optimized(df, config, seed_dir)
        if args.verbose:
            _print_summary(summary, seed_dir)
        return 0

    configs = {
        mode: config_from_args(args, original=mode == "original", data=data) for mode in ("original", "optimized")
    }
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
