"""Command line: `python -m neuro_gym {train,bench,stdp-competition} --help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro_gym.circuit import Circuit
from neuro_gym.profiles import PROFILES, get_profile
from neuro_gym.smart_trainer import train_relentless
from neuro_gym.tasks import sequence_task, validate_task_data, xor_task
from trainkit import BatchedCSVLogger, DataError, progress_bar, resolve_device, run_cli, seed_everything
from trainkit.benchmark import add_bench_arguments

PROG = "python -m neuro_gym"
LOG_FIELDS = [
    "epoch",
    "accuracy",
    "evaluated",
    "train_ms",
    "eval_ms",
    "teacher",
    "elapsed_s",
    "reached_target",
    "tie_break_share",
]
# One torch thread: two gave no gain at these layer sizes (per-operation dispatch dominates; measured in the
# research notes, /work/shared/notes/neuro_gym.md section 3.7, and in issue 19's bench).
DEFAULT_THREADS = 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _load_task_file(path: Path) -> dict[str, Any]:
    """An .npz with `inputs` and `labels` (optionally eval_inputs/eval_labels, num_classes)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            task = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz task file ({exc})") from None
    if "num_classes" in task:
        task["num_classes"] = int(task["num_classes"])
    task.setdefault("name", path.stem)
    return validate_task_data(task)


def cmd_train(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    if args.task_file is not None:
        task = _load_task_file(args.task_file)
    else:
        task = xor_task() if args.task == "xor" else sequence_task(args.seed)
    target = args.target if args.target is not None else (1.0 if args.task == "xor" else 0.9)
    run_name = f"{task.get('name', args.task)}-{profile.name}-seed{args.seed}"
    checkpoint_dir = args.checkpoint_dir or Path("checkpoints") / "neuro_gym" / run_name
    circuit, task = Circuit.for_task(task, profile, args.seed, device)
    status: dict[str, Any] = {}
    with (
        BatchedCSVLogger(checkpoint_dir / "log.csv", LOG_FIELDS, batch_size=50) as log,
        progress_bar(total=args.max_epochs, desc=run_name, unit="epoch") as bar,
    ):
        for status in train_relentless(
            circuit,
            task,
            target_acc=target,
            max_epochs=args.max_epochs,
            profile=profile,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            engine=args.engine,
            seed=args.seed,
        ):
            log.log({key: status[key] for key in LOG_FIELDS})
            bar.n = status["epoch"]
            bar.set_postfix(acc=f"{status['accuracy']:.3f}", refresh=False)
            bar.refresh()
    if not status:
        print(f"{run_name}: already finished (checkpoints in {checkpoint_dir}); nothing to do")
        return 0
    # A subfolder, so the brain is never mistaken for (or pruned as) an epoch checkpoint.
    brain = circuit.save(args.save_brain or checkpoint_dir / "brain" / "brain.pt")
    outcome = (
        f"reached {target} at epoch {status['reached_epoch']}" if status["reached_target"] else "target not reached"
    )
    print(
        f"{run_name}: {outcome}; last accuracy {status['accuracy']:.3f} after {status['epoch']} epochs, "
        f"{status['elapsed_s']:.2f} s; brain saved to {brain}"
    )
    if status["tie_break_flag"]:
        print(
            f"warning: the membrane tie-break, not spike counts, chose {status['tie_break_share']:.0%} of the last "
            "evaluation's answers (more than 10%)",
            file=sys.stderr,
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from neuro_gym.benchmark import run_bench

    out = args.out or Path("reports") / "bench" / "neuro_gym"
    path = run_bench(args.preset, args.seeds, out, args.device)
    print(f"wrote {path}")
    return 0


def cmd_stdp_competition(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro_gym.experiments import stdp_competition

    result = stdp_competition(args.seed, duration_s=args.duration, dt_ms=args.dt)
    weights = result["weights"]
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.hist(weights, bins=40, range=(0, 1), color="tab:blue")
    ax.set_xlabel("final weight / w_max")
    ax.set_ylabel("synapses")
    ax.set_title(
        f"STDP competition (Song, Miller & Abbott 2000), {args.duration:g} s, post {result['post_rate_hz']:.1f} Hz",
        fontsize=8,
    )
    fig.tight_layout()
    png = args.out / "stdp_competition.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    low, high = float((weights < 0.1).mean()), float((weights > 0.9).mean())
    print(
        f"wrote {png}: {low:.1%} of weights < 0.1 w_max, {high:.1%} > 0.9 w_max, "
        f"post rate {result['post_rate_hz']:.1f} Hz"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Spiking circuits that learn XOR and order-coded sequences."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a circuit with train_relentless (checkpoints, resumes when rerun)")
    train.add_argument("--task", choices=("xor", "sequence"), default="xor", help="built-in task")
    train.add_argument("--task-file", type=Path, default=None, help=".npz with inputs/labels instead of --task")
    train.add_argument("--profile", choices=sorted(PROFILES), default="balanced", help="training settings")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-epochs", type=int, default=300)
    train.add_argument("--target", type=float, default=None, help="accuracy to hold (default: 1.0 XOR, 0.9 else)")
    train.add_argument("--engine", choices=("batched", "loop"), default="batched")
    train.add_argument("--checkpoint-dir", type=Path, default=None, help="default checkpoints/neuro_gym/<run>")
    train.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints")
    train.add_argument("--save-brain", type=Path, default=None, help="where to save the trained circuit")
    train.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    train.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS, help="torch CPU threads")
    train.set_defaults(func=cmd_train)
    bench = sub.add_parser("bench", help="original vs optimized benchmark -> benchmark.json + PNG")
    add_bench_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    stdp = sub.add_parser("stdp-competition", help="Song, Miller & Abbott (2000) weight histogram -> PNG")
    stdp.add_argument("--out", type=Path, required=True, help="output folder")
    stdp.add_argument("--seed", type=int, default=0)
    stdp.add_argument("--duration", type=float, default=100.0, help="simulated seconds")
    stdp.add_argument("--dt", type=float, default=0.1, help="time step in ms")
    stdp.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS, help="torch CPU threads")
    stdp.set_defaults(func=cmd_stdp_competition)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) is not None:
        torch.set_num_threads(args.threads)
    return args.func(args)


def entry() -> None:
    sys.exit(run_cli(main, sys.argv[1:], prog=PROG))


def bench_entry() -> None:
    sys.exit(run_cli(main, ["bench", *sys.argv[1:]], prog=PROG))


if __name__ == "__main__":
    entry()
