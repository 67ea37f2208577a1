"""The training command line shared by ``train_ppo.py`` (original) and ``train_ppo_optimized.py``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ppo_trading.data import data_warnings, load_ohlc
from ppo_trading.features import FeatureConfig
from ppo_trading.instruments import CostSettings, resolve_costs
from ppo_trading.presets import PRESETS
from ppo_trading.provenance import data_provenance
from ppo_trading.timestamps import bars_per_year
from ppo_trading.train_arguments import OPTIMIZATION_FLAGS, add_train_arguments
from ppo_trading.utils.training_utils_optimized import (
    TrainingConfig,
    train_walk_forward_optimized,
    write_json_atomic,
)
from ppo_trading.walk_forward import make_split
from trainkit import DataError, resolve_device, validate
from trainkit.cli import TrainkitArgumentParser, run_cli, set_handler, tensorboard_dir
from trainkit.harness import RunResult, run_interleaved

__all__ = ["add_train_arguments", "build_parser", "config_from_args", "data_file", "run_training", "train_main"]

# The shipped data folder when this is a source checkout (src/ppo_trading/train_cli.py -> the repository root).
SHIPPED_DATA = Path(__file__).resolve().parents[4] / "data"


def build_parser(prog: str, original_by_default: bool) -> argparse.ArgumentParser:
    mode = "original (fresh model, fixed timesteps)" if original_by_default else "optimized (all optimizations on)"
    parser = TrainkitArgumentParser(
        prog=prog,
        description=f"Walk-forward RecurrentPPO training on OHLC bars; default mode: {mode}. "
        "Outputs go to RESULTS_DIR/<seed>/ and a re-run of the same command resumes.",
    )
    add_train_arguments(parser, original_by_default)
    set_handler(parser, run_training)
    return parser


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

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    overrides: dict[str, Any] = {
        "seed": args.seed,
        "total_timesteps": given(args.total_timesteps, preset.total_timesteps),
        "min_timesteps": given(args.min_timesteps, preset.min_timesteps),
        "iterations": given(args.iterations, preset.iterations),
        **(data or {}),
        "eval_freq": given(args.eval_freq, preset.eval_freq),
        "convergence_threshold": args.convergence_threshold,
        "custom_schedule": args.custom_schedule,
        "parallel_candidates": args.parallel_candidates,
        "backend": args.backend,
        "max_workers": args.max_workers,
        "ray_address": args.ray_address,
        "verbose": args.verbose,
        "torch_threads": args.threads,
        "device": str(resolve_device(args.device)),
        "tensorboard_dir": _tensorboard_for(args, "original" if original else "optimized"),
    }
    if args.total_timesteps is not None and args.min_timesteps is None:
        overrides["min_timesteps"] = min(preset.min_timesteps, args.total_timesteps)
    for flag in OPTIMIZATION_FLAGS:
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.early_stopping_patience is not None:
        overrides["early_stopping_patience"] = args.early_stopping_patience
    config = TrainingConfig.original(**overrides) if original else TrainingConfig.optimized(**overrides)
    config.check()
    return config


def _tensorboard_for(args: argparse.Namespace, mode: str) -> str | None:
    """``--tensorboard DIR``, or DIR/<mode> with --benchmark_mode, so the two modes' runs stay apart."""
    if getattr(args, "tensorboard", None) is None:
        return None
    return str(Path(args.tensorboard) / mode) if args.benchmark_mode else str(args.tensorboard)


def data_file(value: str | os.PathLike[str]) -> Path:
    """``--data_path``: a readable file; a missing one that ships with the repository names where it is."""
    try:
        return validate.existing_file(value)
    except validate.ValidationError as exc:
        shipped = SHIPPED_DATA / Path(value).name
        if not shipped.is_file():
            raise
        where = os.path.relpath(shipped)
        hint = f"the shipped {shipped.name} is at {where} (the repository's data/)"
        raise DataError(f"--data_path: {exc}; {hint}") from None


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any], CostSettings]:
    df = load_ohlc(args.data_path, args.date_format)
    max_bars = args.max_bars if args.max_bars is not None else PRESETS[args.preset].max_bars
    if max_bars is not None:
        attrs = dict(df.attrs)
        df = df.iloc[:max_bars].reset_index(drop=True)
        df.attrs.update(attrs)
    df, costs = resolve_costs(df, args.data_path, args.instrument, args.point_size, args.spread_points,
                              args.slippage_points, args.commission)  # fmt: skip
    return df, _data_settings(args, df, costs), costs


def _extra_summary(args: argparse.Namespace, costs: CostSettings) -> dict[str, Any]:
    """What the summary records about the data: its costs (and how the instrument was chosen) and provenance."""
    return {"costs": costs.as_dict(), "data_provenance": data_provenance(args.data_path),
            "bars_per_year_rule": "bars / calendar span, gaps longer than max(4 days, 10 x the median spacing) "
                                  "counted as one median step"}  # fmt: skip


def _print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    test, bh = summary["test_metrics"], summary["baseline_metrics"]["buy_and_hold"]
    oos = summary["walk_forward_out_of_sample"]
    low, high = oos["ci95"]
    synthetic = (summary.get("data_provenance") or {}).get("synthetic")
    print(
        (
            "verdict on SYNTHETIC bars (not market data; " + summary["data_provenance"]["rule"] + "): "
            if synthetic
            else "verdict: "
        )
        + f"the agent {oos['verdict']} over {oos['bars']} walk-forward out-of-sample bars "
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
    return run_cli(build_parser(prog, original_by_default), argv)


def run_training(args: argparse.Namespace) -> int:
    """Train one mode, or both with ``--benchmark_mode``, into RESULTS_DIR/<seed>/."""
    # Checked here rather than as argparse types, so that parsing alone never creates a folder.
    args.data_path = data_file(args.data_path)
    validate.output_dir(args.results_dir)
    if args.tensorboard is not None:
        args.tensorboard = tensorboard_dir(args.tensorboard)
    df, data, costs = _load(args)
    seed_dir = Path(args.results_dir) / str(args.seed)
    extra = _extra_summary(args, costs)
    single = "original" if args.use_original_training else "optimized"
    modes = ("original", "optimized") if args.benchmark_mode else (single,)
    configs = {mode: config_from_args(args, original=mode == "original", data=data) for mode in modes}
    if args.verbose:
        print(f"{len(df)} bars, {data['bars_per_year']:.0f} bars/year from the timestamps; {costs.describe()}")
    for warning in [*data_warnings(df, args.data_path), *([costs.warning] if costs.warning else [])]:
        print(warning, file=sys.stderr)
    if not args.benchmark_mode:
        summary = train_walk_forward_optimized(df, configs[single], seed_dir, extra_summary=extra)
        if args.verbose:
            _print_summary(summary, seed_dir)
        return 0

    summaries: dict[str, dict[str, Any]] = {}

    def runner(mode: str):
        def run(seed: int) -> RunResult:
            # The original's iteration times (for the optimized run's progress estimate) exist only when the
            # original ran first: run_interleaved reverses the order on odd seeds.
            reference = summaries["original"]["iteration_seconds"] if "original" in summaries else None
            summaries[mode] = train_walk_forward_optimized(df, configs[mode], seed_dir / mode, reference, extra)
            return RunResult(seed)  # run_interleaved measures its wall and CPU time

        return run

    results, _ = run_interleaved({mode: runner(mode) for mode in configs}, [args.seed], desc="benchmark_mode")
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
