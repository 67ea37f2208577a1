"""``python -m ppo_trading scaling``: candidates per minute with 1, 2, ... workers, per backend, measured.

One walk-forward iteration with ``--candidates`` candidates is trained per (backend, workers) cell,
interleaved over ``--repeats`` so that drift on the machine hits every cell alike. Same data, same seed,
same candidates in every cell; the training log of each cell must match the first (checked). One untimed
warm-up cell per backend comes first, so that Ray's start-up (once per driver; its workers are reused) is
not charged to whichever cell happens to run first. The process pool spawns its workers every iteration,
and that cost is part of what it measures. With ``--ray-address auto`` the Ray cells run on the cluster
started by ``ray start --head``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from ppo_trading.data import data_sha256, generate_synthetic_xauusd
from ppo_trading.presets import BENCH_DATA_SEED, PRESETS
from ppo_trading.utils.training_utils_optimized import BACKENDS, TrainingConfig, train_walk_forward_optimized
from trainkit import ConfigError, atomic_write, progress_bar, validate
from trainkit.harness import current_command

__all__ = ["add_arguments", "measure_scaling", "scaling_command"]

DECIDED = ("iteration", "candidate", "seed", "env_steps", "val_score", "selected")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--backends", nargs="+", choices=sorted(BACKENDS), default=["process", "ray"],
                        help="executors to measure")  # fmt: skip
    parser.add_argument("--workers", nargs="+", type=validate.positive_int, default=[1, 2], help="worker counts")
    parser.add_argument("--candidates", type=validate.positive_int, default=4, help="candidates per iteration")
    parser.add_argument("--repeats", type=validate.positive_int, default=2, help="interleaved repetitions per cell")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="candidate size (timesteps)")
    parser.add_argument("--seed", type=validate.int_in_range(0, 4_294_966), default=0, help="random seed")
    parser.add_argument("--ray-address", "--ray_address", dest="ray_address", default=None,
                        help="Ray cluster address ('auto' or HOST:PORT); default: a local Ray")  # fmt: skip
    parser.add_argument("--out", type=validate.output_dir, default=Path("reports/distributed/ppo_trading"),
                        help="output folder for scaling.json")  # fmt: skip
    return parser


def _decisions(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "training_log.csv", newline="") as handle:
        return [{key: row[key] for key in DECIDED} for row in csv.DictReader(handle)]


def measure_scaling(args: argparse.Namespace) -> dict[str, Any]:
    if min(args.workers) < 1 or args.candidates < 2 or args.repeats < 1:
        raise ConfigError("--workers must be >= 1, --candidates >= 2 and --repeats >= 1")
    preset = PRESETS[args.preset]
    df = generate_synthetic_xauusd(preset.max_bars or preset.scaling_bars, BENCH_DATA_SEED)
    cells = [(backend, workers) for backend in args.backends for workers in args.workers]
    runs: dict[str, list[float]] = {f"{b}/{w}": [] for b, w in cells}
    with tempfile.TemporaryDirectory(prefix="ppo_trading_scaling_") as scratch:

        def train(backend: str, workers: int, run_dir: Path) -> float:
            config = TrainingConfig.optimized(
                seed=args.seed,
                total_timesteps=preset.total_timesteps,
                min_timesteps=preset.min_timesteps,
                eval_freq=preset.eval_freq,
                iterations=1,
                parallel_candidates=args.candidates,
                backend=backend,
                max_workers=workers,
                ray_address=args.ray_address if backend == "ray" else None,
                feature_cache_dir=str(Path(scratch) / "cache"),
                verbose=0,
            )
            return train_walk_forward_optimized(df, config, run_dir)["iteration_seconds"][0]

        timed = [(repeat, backend, workers) for repeat in range(args.repeats) for backend, workers in cells]
        bar = progress_bar(total=len(args.backends) + len(timed), desc="scaling", unit="cell")
        for backend in args.backends:
            train(backend, max(args.workers), Path(scratch) / f"warmup_{backend}")
            bar.update(1)
        reference = _decisions(Path(scratch) / f"warmup_{args.backends[0]}")
        for repeat, backend, workers in timed:
            run_dir = Path(scratch) / f"{backend}_{workers}_{repeat}"
            iteration_s = train(backend, workers, run_dir)
            runs[f"{backend}/{workers}"].append(60.0 * args.candidates / iteration_s)
            if _decisions(run_dir) != reference:
                raise RuntimeError(f"{backend} with {workers} workers decided differently from the warm-up")
            bar.set_postfix_str(f"{backend}/{workers}: {iteration_s:.0f} s")
            bar.update(1)
        bar.close()
    medians = {cell: statistics.median(values) for cell, values in runs.items()}
    lines = []
    for backend in args.backends:
        base = medians[f"{backend}/{args.workers[0]}"]
        for workers in args.workers:
            value = medians[f"{backend}/{workers}"]
            lines.append(f"{backend} {workers} worker(s): {value:.1f} candidates/min ({value / base:.2f}x)")
    return {
        "command": current_command("ppo_trading"),
        "preset": args.preset,
        "candidates": args.candidates,
        "timesteps_per_candidate": preset.total_timesteps,
        "repeats": args.repeats,
        "warmup": "one untimed cell per backend at the largest worker count",
        "ray_address": args.ray_address,
        "data": f"generate_synthetic_xauusd({len(df)}, seed={BENCH_DATA_SEED}), sha256 {data_sha256(df)[:16]}",
        "metric": "candidates per minute = candidates / wall time of the walk-forward iteration that trains them",
        "runs": runs,
        "median_candidates_per_minute": medians,
        "identical_decisions_in_every_cell": True,
        "summary": "; ".join(lines),
    }


def scaling_command(args: argparse.Namespace) -> int:
    result = measure_scaling(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "scaling.json"
    with atomic_write(path, "w") as handle:
        json.dump(result, handle, indent=2)
    print(result["summary"])
    print(f"wrote {path}")
    return 0
