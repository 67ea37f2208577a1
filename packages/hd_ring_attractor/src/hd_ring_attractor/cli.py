"""``python -m hd_ring_attractor train|bench|demo``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from hd_ring_attractor.benchmark import run_benchmark
from hd_ring_attractor.evaluation import cue_only_error_deg, evaluate
from hd_ring_attractor.models import RingAttractorNetwork
from hd_ring_attractor.training import save_progress_plots, train_model_enhanced
from trainkit import ConfigError, run_cli
from trainkit.benchmark import add_bench_arguments

__all__ = ["bench_entry_point", "entry_point", "main"]


def _format(metrics: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.3g}" for key, value in metrics.items())


def _train(args: argparse.Namespace) -> int:
    model = RingAttractorNetwork(args.n_exc, args.n_inh, device=args.device)
    model, history, trainer = train_model_enhanced(
        model,
        learning_rate=args.lr,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        plot_progress=True,
        n_sequences=args.sequences,
        validation_sequences=args.val_sequences,
        test_sequences=args.test_sequences,
        optimizer=args.optimizer,
        schedule=args.schedule,
        seed=args.seed,
        data_seed=args.seed,
        checkpoint_dir=str(args.checkpoint_dir),
        resume=not args.no_resume,
        device=args.device,
        log_interval=1,
    )
    metrics = evaluate(model, trainer.test_data)
    (args.checkpoint_dir / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    stopped = f" ({trainer.stop_reason})" if trainer.stop_reason else ""
    print(f"trained {len(history['epoch'])} epochs{stopped}; test: {_format(metrics)}")
    print(f"checkpoints, plots and test_metrics.json are in {args.checkpoint_dir}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    untrained = RingAttractorNetwork(args.n_exc, args.n_inh)
    model = RingAttractorNetwork(args.n_exc, args.n_inh)
    model, history, trainer = train_model_enhanced(
        model,
        learning_rate=1e-2,
        max_epochs=args.epochs,
        batch_size=8,
        plot_progress=False,
        n_sequences=64,
        validation_sequences=32,
        test_sequences=64,
        checkpoint_dir=str(args.out / "checkpoints"),
        resume=False,
        log_interval=1,
    )
    paths = save_progress_plots(history, trainer.param_history, args.out)
    before, after = evaluate(untrained, trainer.test_data), evaluate(model, trainer.test_data)
    cue = cue_only_error_deg(trainer.test_data)
    print(f"hold the cue (no velocity): mean |error| {cue['mean_error_deg']:.2f} deg")
    print(f"untrained network: {_format(before)}")
    print(f"trained network:   {_format(after)}")
    print("plots: " + ", ".join(str(p) for p in paths))
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    out = args.out or Path("reports/bench/hd_ring_attractor")
    path = run_benchmark(args.preset, args.seeds, out, args.device, threads=args.threads)
    doc = json.loads(path.read_text())
    print(f"wrote {path}: speedup {doc['speedup']} ({doc['speedup_basis']}), verdict: {doc['verdict']}")
    for name, comparison in doc.get("extra_comparisons", {}).items():
        if isinstance(comparison, dict) and "summary" in comparison:
            print(f"- {name}: {comparison['summary']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hd_ring_attractor",
        description="A head-direction ring attractor trained to path-integrate angular velocity in darkness.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a network (resumes from --checkpoint-dir when it holds a run)")
    train.add_argument("--n-exc", type=int, default=800, help="excitatory neurons (default 800, the seed's size)")
    train.add_argument("--n-inh", type=int, default=200, help="inhibitory neurons (default 200)")
    train.add_argument("--epochs", type=int, default=100, help="maximum epochs (early stopping may end sooner)")
    train.add_argument("--lr", type=float, default=1e-3, help="base learning rate (gains get 10x)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--sequences", type=int, default=320, help="training trials per epoch")
    train.add_argument("--val-sequences", type=int, default=64, help="validation trials")
    train.add_argument("--test-sequences", type=int, default=128, help="test trials")
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    train.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--checkpoint-dir", type=Path, default=Path("runs/hd_ring_attractor"), help="checkpoints, plots and metrics"
    )
    train.add_argument("--no-resume", action="store_true", help="start over even if the folder holds a run")
    train.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    train.add_argument("--threads", type=int, default=1, help="torch threads (default 1, measured faster here)")
    train.set_defaults(handler=_train)

    bench = commands.add_parser("bench", help="original vs optimized: training and simulation speed")
    add_bench_arguments(bench)
    bench.add_argument("--threads", type=int, default=1, help="torch threads, the same for every mode (default 1)")
    bench.set_defaults(handler=_bench)

    demo = commands.add_parser(
        "demo", help="train a small network for a few epochs and compare it with the untrained one"
    )
    demo.add_argument("--n-exc", type=int, default=64)
    demo.add_argument("--n-inh", type=int, default=16)
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--out", type=Path, default=Path("runs/hd_ring_attractor_demo"), help="plots and checkpoints")
    demo.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the demo network is small)")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    return args.handler(args)


def entry_point() -> None:
    sys.exit(run_cli(main, prog="hd_ring_attractor"))


def bench_entry_point() -> None:
    sys.exit(run_cli(main, ["bench", *sys.argv[1:]], prog="hd_ring_attractor-bench"))
