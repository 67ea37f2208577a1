"""``python -m ppo_trading {train,bench,scaling,compare,generate-data,clear-cache}``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ppo_trading.bench import add_arguments as add_bench_arguments
from ppo_trading.bench import bench_command
from ppo_trading.cli import add_train_arguments, run_training
from ppo_trading.compare import compare_runs
from ppo_trading.data import generate_synthetic_xauusd, write_ohlc_csv
from ppo_trading.features import clear_optimization_cache
from ppo_trading.scaling import add_arguments as add_scaling_arguments
from ppo_trading.scaling import scaling_command
from trainkit import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ppo_trading",
        description="Walk-forward RecurrentPPO gold trader: train, benchmark original vs optimized, compare runs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train (optimized by default; --use_original_training for the original)")
    add_train_arguments(train, original_by_default=False)
    bench = commands.add_parser("bench", help="original vs optimized, interleaved, same seeds: benchmark.json")
    add_bench_arguments(bench)
    scaling = commands.add_parser(
        "scaling", help="candidates/minute with 1, 2, ... workers for the process and Ray backends: scaling.json"
    )
    add_scaling_arguments(scaling)
    compare = commands.add_parser("compare", help="compare two finished runs: a table and a plot")
    compare.add_argument("--original", type=Path, required=True)
    compare.add_argument("--optimized", type=Path, required=True)
    compare.add_argument("--plot", type=Path, default=None)
    generate = commands.add_parser("generate-data", help="write synthetic XAUUSDm 15-minute bars to a CSV")
    generate.add_argument("--n_bars", type=int, default=50_000)
    generate.add_argument("--seed", type=int, default=2024)
    generate.add_argument("--out", type=Path, default=Path("data/XAUUSDm_15min.csv"))
    clear = commands.add_parser("clear-cache", help="delete cached features")
    clear.add_argument("--cache_dir", type=Path, default=None)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return run_training(args)
    if args.command == "bench":
        return bench_command(args)
    if args.command == "scaling":
        return scaling_command(args)
    if args.command == "compare":
        print(compare_runs(args.original, args.optimized, args.plot or args.optimized / "comparison.png"))
        return 0
    if args.command == "generate-data":
        path = write_ohlc_csv(generate_synthetic_xauusd(args.n_bars, args.seed), args.out)
        print(f"wrote {args.n_bars} bars to {path}")
        return 0
    print(f"removed {clear_optimization_cache(args.cache_dir)} cached feature files")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv, prog="ppo_trading")


if __name__ == "__main__":
    raise SystemExit(main())
