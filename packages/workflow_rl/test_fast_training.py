"""The seed's speed comparison, as a benchmark script (not a unit test): it measures, never projects.

    python packages/workflow_rl/test_fast_training.py --n-envs 32 --episodes 320 --seeds 3 --out speed.json

Trains the original and the fast path on the same workflow, episodes and seeds, interleaved, and
writes wall time, episodes/s and the trained return of every run, plus the median speedup, as JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.trainer import train
from workflow_rl.workflows import parse_workflow

from trainkit import atomic_write, run_cli
from trainkit import validate as v
from trainkit.cli import TrainkitArgumentParser
from trainkit.contract import machine_info


def main(argv: list[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="test_fast_training.py", description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=v.positive_int, default=32, help="parallel environments")
    parser.add_argument("--episodes", type=v.positive_int, default=320, help="training episodes per run")
    parser.add_argument("--seeds", type=v.positive_int, default=3, help="seeds per trainer (runs interleaved)")
    parser.add_argument(
        "--workflow", default="op_server,enterprise,defender,op_host,user", help="the workflow both trainers train"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("logs") / "speed_comparison.json",
        help="JSON file to write (by default under logs/, the trainers' output folder, never beside the code)",
    )
    args = parser.parse_args(argv)
    if args.out.is_symlink() or args.out.is_dir():
        parser.error(f"--out {args.out}: a symbolic link or a folder, not a JSON file to write")
    torch.set_num_threads(1)
    runs: dict[str, list[dict]] = {"original": [], "fast": []}
    for seed in range(args.seeds):
        for path in ("original", "fast"):
            with tempfile.TemporaryDirectory() as folder:
                config = TrainConfig(
                    n_envs=args.n_envs,
                    total_episodes=args.episodes,
                    max_episodes=args.episodes,
                    workflow=parse_workflow(args.workflow),
                    seed=seed,
                    out=Path(folder),
                    compliance_threshold=None,
                )
                result = train(with_trainer(config, path), show_progress=False)
            runs[path].append(
                {
                    "seed": seed,
                    "wall_s": result.wall_s,
                    "episodes_per_s": result.episodes_per_s,
                    "eval_return": result.eval_return,
                    "time_split_s": result.time_split,
                    "cpu_split_s": result.cpu_split,
                }
            )
            print(f"{path:8s} seed {seed}: {result.episodes_per_s:8.1f} eps/s, return {result.eval_return:8.1f}")
    speedups = [o["wall_s"] / f["wall_s"] for o, f in zip(runs["original"], runs["fast"])]
    document = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_info("cpu"),
        "n_envs": args.n_envs,
        "episodes": args.episodes,
        "runs": runs,
        "speedup_wall_median": statistics.median(speedups),
    }
    with atomic_write(args.out, "w") as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    print(f"median speedup (original/fast wall time): {document['speedup_wall_median']:.2f}x -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="test_fast_training"))
