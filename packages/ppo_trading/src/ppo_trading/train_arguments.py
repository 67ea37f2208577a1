"""The training flags: kebab-case (trainkit's CLI convention) with the design documents' snake_case spellings
as aliases, a help text on every flag and a trainkit validator on every number."""

from __future__ import annotations

import argparse
from typing import Any

from ppo_trading.config import BACKEND_NAMES, CUSTOM_SCHEDULE
from ppo_trading.instruments import AUTO_RULE, INSTRUMENTS
from ppo_trading.presets import PRESETS
from ppo_trading.timestamps import DATE_FORMATS, date_format
from trainkit import validate
from trainkit.cli import DEFAULT_THREADS

__all__ = ["OPTIMIZATION_FLAGS", "SEED_LIMIT", "add_train_arguments"]

OPTIMIZATION_FLAGS = ("adaptive_timesteps", "warm_start", "progressive_training", "cache_environments",
                      "fast_evaluation")  # fmt: skip
# Candidate seeds are seed * 1000 + 10 * iteration + candidate and must stay below 2**32.
SEED_LIMIT = (2**32 - 1_000) // 1_000


def _flag(parser: argparse.ArgumentParser | Any, name: str, **kwargs: Any) -> None:
    """``--kebab-name`` plus the documents' ``--snake_name`` when it differs; both fill ``name``."""
    spellings = [f"--{name.replace('_', '-')}"]
    if "_" in name:
        spellings.append(f"--{name}")
    parser.add_argument(*spellings, dest=name, **kwargs)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and costs")
    _flag(group, "data_path", default="data/XAUUSDm_15min.csv",
          help="OHLC file: comma, semicolon or tab separated, with or without a header; ISO, day-first, "
               "MetaTrader (separate date and time columns) or epoch timestamps")  # fmt: skip
    _flag(group, "date_format", type=date_format, default="auto",
          help=f"how to read timestamps: one of {', '.join(DATE_FORMATS)} or a strftime format such as "
               "'%%d/%%m/%%Y %%H:%%M' (auto decides day-first vs month-first from the whole column)")  # fmt: skip
    _flag(group, "instrument", choices=["auto", *sorted(INSTRUMENTS)], default="auto",
          help="cost defaults: " + "; ".join(f"{k}: {v.description}" for k, v in INSTRUMENTS.items())
               + f" (auto, from the bars and never the file name: {AUTO_RULE}; name it when you know it)")  # fmt: skip
    _flag(group, "point_size", type=validate.positive_float, default=None, help="price of one point")
    _flag(group, "spread_points", type=validate.nonnegative_float, default=None,
          help="fixed spread in points (default: the file's spread column, else the instrument's)")  # fmt: skip
    _flag(group, "slippage_points", type=validate.nonnegative_float, default=None, help="slippage per fill, points")
    _flag(group, "commission", type=validate.nonnegative_float, default=None, help="commission per fill, bps")
    _flag(group, "max_bars", type=validate.int_in_range(2, 10**9), default=None,
          help="use only the first N bars (default: the preset's)")  # fmt: skip


def _budget_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("walk-forward windows and budget")
    _flag(
        group,
        "preset",
        choices=sorted(PRESETS),
        default="full",
        help="run size: ci (seconds), quick (minutes), full (the design document's 50,000/15,000 timesteps)",
    )
    _flag(group, "train_bars", type=validate.positive_int, default=None,
          help="bars per training window (default: scaled with the file, 2,000 at most)")  # fmt: skip
    _flag(group, "val_bars", type=validate.positive_int, default=None,
          help="bars per validation window and step between windows (default: scaled, 500 at most)")  # fmt: skip
    _flag(group, "test_fraction", type=validate.positive_float, default=0.2,
          help="final share of the bars held out for the test block, in (0, 0.5]")  # fmt: skip
    _flag(group, "iterations", type=validate.positive_int, default=None,
          help="walk-forward iterations (default: as many as fit, capped by the preset: ci 2, quick 6)")  # fmt: skip
    _flag(group, "total_timesteps", type=validate.positive_int, default=None, help="timesteps per iteration (T_0)")
    _flag(group, "min_timesteps", type=validate.positive_int, default=None, help="floor of the adaptive budget")
    _flag(group, "eval_freq", type=validate.positive_int, default=None,
          help="env steps between validation checks, a multiple of the 256-step rollout")  # fmt: skip


def _optimization_arguments(parser: argparse.ArgumentParser, original_by_default: bool) -> None:
    group = parser.add_argument_group("optimizations")
    for flag in OPTIMIZATION_FLAGS:
        _flag(group, flag, action=argparse.BooleanOptionalAction, default=None,
              help=f"switch {flag.replace('_', ' ')} on or off (default: the mode's)")  # fmt: skip
    _flag(group, "early_stopping_patience", type=validate.nonnegative_int, default=None,
          help="validation checks without improvement before stopping; 0 disables")  # fmt: skip
    _flag(group, "convergence_threshold", type=validate.nonnegative_float, default=0.05,
          help="minimum improvement of the validation score (%% log return)")  # fmt: skip
    _flag(group, "custom_schedule", choices=sorted(CUSTOM_SCHEDULE), default=None,
          help="a fixed hyperparameter profile for every iteration")  # fmt: skip
    _flag(group, "use_original_training", action="store_true", default=original_by_default,
          help="fresh model and a fixed number of timesteps each iteration (every optimization off)")  # fmt: skip
    _flag(
        group,
        "benchmark_mode",
        action="store_true",
        help="run original and optimized on the same data and seed in this process and measure the speedup",
    )


def _executor_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("candidates and execution")
    _flag(group, "parallel_candidates", type=validate.positive_int, default=1,
          help="candidates per iteration; the best on validation is kept")  # fmt: skip
    _flag(group, "backend", choices=sorted(BACKEND_NAMES), default="process",
          help="executor for the candidates: a process pool kept alive across iterations, in-process, or Ray "
               "tasks (the `distributed` extra) on this machine or a cluster")  # fmt: skip
    _flag(group, "max_workers", type=validate.positive_int, default=None,
          help="at most N candidates at once (default: this machine's CPUs; with Ray, the cluster's)")  # fmt: skip
    _flag(
        group,
        "ray_address",
        default=None,
        help="with --backend ray: 'auto' joins the cluster started by `ray start --head`, or HOST:PORT",
    )


def add_train_arguments(parser: argparse.ArgumentParser, original_by_default: bool) -> argparse.ArgumentParser:
    _data_arguments(parser)
    _budget_arguments(parser)
    _optimization_arguments(parser, original_by_default)
    _executor_arguments(parser)
    group = parser.add_argument_group("run")
    _flag(group, "seed", type=validate.int_in_range(0, SEED_LIMIT), default=42,
          help=f"random seed in [0, {SEED_LIMIT}) (candidate seeds are seed x 1000 + ...)")  # fmt: skip
    _flag(group, "results_dir", default="results",
          help="outputs go to RESULTS_DIR/<seed>/; the folder is probed before any work")  # fmt: skip
    _flag(group, "verbose", type=int, choices=(0, 1, 2), default=1, help="0 quiet, 1 summary, 2 every iteration")
    _flag(group, "device", choices=("auto", "cpu", "cuda"), default="auto", help="auto = a GPU if present")
    _flag(group, "threads", type=validate.threads, default=DEFAULT_THREADS,
          help="torch threads per training process (workers of --backend process use 1 each)")  # fmt: skip
    _flag(group, "tensorboard", metavar="DIR", default=None,
          help="also write TensorBoard scalars under DIR: SB3's (losses, learning rate, fps) per candidate and "
               "the walk-forward log per iteration (needs the tensorboard extra); view with: "
               "tensorboard --logdir DIR")  # fmt: skip
    return parser
