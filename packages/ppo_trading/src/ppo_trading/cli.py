"""``python -m ppo_trading {train,bench,scaling,report,compare,generate-data,clear-cache}``: the package CLI."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ppo_trading.bench import add_arguments as add_bench_arguments
from ppo_trading.bench import bench_command
from ppo_trading.compare import compare_runs
from ppo_trading.data import generate_synthetic_xauusd, write_ohlc_csv
from ppo_trading.datasets_report import add_arguments as add_report_arguments
from ppo_trading.datasets_report import report_command
from ppo_trading.features import clear_optimization_cache
from ppo_trading.provenance import write_provenance
from ppo_trading.scaling import add_arguments as add_scaling_arguments
from ppo_trading.scaling import scaling_command
from ppo_trading.train_arguments import add_train_arguments
from ppo_trading.train_cli import run_training
from trainkit import validate
from trainkit.cli import Command, build_parser, run_cli


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--original", type=Path, required=True, help="results/<seed> of a finished original run")
    parser.add_argument("--optimized", type=Path, required=True, help="results/<seed> of a finished optimized run")
    parser.add_argument("--plot", default=None, help="PNG path (default: OPTIMIZED/comparison.png)")


def _compare(args: argparse.Namespace) -> int:
    plot = args.plot if args.plot is not None else args.optimized / "comparison.png"
    print(compare_runs(args.original, args.optimized, plot))
    return 0


def _output_file(value: str) -> Path:
    """A file to write: its folder is created and probed now, so a bad path fails before the bars are made."""
    path = Path(value)
    validate.output_dir(path.parent)
    return path


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-bars", "--n_bars", dest="n_bars", type=validate.int_in_range(2, 10**8), default=50_000,
                        help="number of 15-minute bars")  # fmt: skip
    parser.add_argument("--seed", type=validate.seed, default=2024, help="generator seed")
    parser.add_argument(
        "--out", type=_output_file, default="data/XAUUSDm_15min.csv", help="CSV path (written atomically)"
    )


def _generate(args: argparse.Namespace) -> int:
    path = write_ohlc_csv(generate_synthetic_xauusd(args.n_bars, args.seed), args.out)
    marker = write_provenance(path, args.n_bars, args.seed)
    print(f"wrote {args.n_bars} synthetic bars to {path} (provenance: {marker})")
    return 0


def _clear_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", "--cache_dir", dest="cache_dir", default=None,
                        help="feature cache folder (default: $PPO_TRADING_CACHE or ~/.cache/ppo_trading)")  # fmt: skip


def _clear(args: argparse.Namespace) -> int:
    print(f"removed {clear_optimization_cache(args.cache_dir)} cached feature files")
    return 0


COMMANDS = [
    Command(
        "train",
        "train (optimized by default; --use-original-training for the original)",
        lambda p: add_train_arguments(p, original_by_default=False),
        run_training,
    ),
    Command("bench", "every arm, interleaved, same seeds: benchmark.json", add_bench_arguments, bench_command),
    Command(
        "scaling",
        "candidates/minute with 1, 2, ... workers for the process and Ray backends: scaling.json",
        add_scaling_arguments,
        scaling_command,
    ),
    Command(
        "report",
        "rewrite the README's per-data-set table (agent vs buy-and-hold vs SMA) from a benchmark.json",
        add_report_arguments,
        report_command,
    ),
    Command("compare", "compare two finished runs: a table and a plot", _compare_arguments, _compare),
    Command("generate-data", "write synthetic XAUUSDm 15-minute bars to a CSV", _generate_arguments, _generate),
    Command("clear-cache", "delete cached features", _clear_arguments, _clear),
]


def make_parser() -> argparse.ArgumentParser:
    return build_parser(
        "ppo_trading", "Walk-forward RecurrentPPO trader: train, benchmark original vs optimized, compare.", COMMANDS
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(make_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
