"""``hd-ring-attractor train|bench|demo`` (also ``python -m hd_ring_attractor``), on trainkit's CLI convention."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hd_ring_attractor.bench import PRESETS, build_spec
from hd_ring_attractor.evaluation import cue_only_error_deg, evaluate
from hd_ring_attractor.models import RingAttractorNetwork
from hd_ring_attractor.training import train_model_enhanced
from trainkit import atomic_write, resolve_device, validate
from trainkit.cli import Command, add_common_arguments, add_config_arguments, build_parser, config_from_args, run_cli
from trainkit.harness import add_bench_arguments, default_out, run_bench

__all__ = ["TrainOptions", "bench_entry_point", "entry_point", "main", "make_parser"]


def _help(text: str, kind: object = None) -> dict[str, object]:
    return {"help": text} if kind is None else {"help": text, "type": kind}


# A bound before any allocation: a trial is about 1 kB of inputs and targets, so 1e6 trials is about 1 GB.
MAX_TRIALS = validate.int_in_range(1, 10**6 + 1)


@dataclass
class TrainOptions:
    """The ``train`` command's settings; one flag per field."""

    n_exc: int = field(
        default=800, metadata=_help("excitatory neurons (the design's 800)", validate.int_in_range(8, 100_000))
    )
    n_inh: int = field(default=200, metadata=_help("inhibitory neurons", validate.positive_int))
    epochs: int = field(
        default=100, metadata=_help("maximum epochs (early stopping may end sooner)", validate.positive_int)
    )
    lr: float = field(
        default=1e-3, metadata=_help("base learning rate (logged as such; gains get 10x)", validate.learning_rate)
    )
    batch_size: int = field(default=32, metadata=_help("trials per optimizer step", validate.positive_int))
    sequences: int = field(default=320, metadata=_help("training trials per epoch, at most 1e6", MAX_TRIALS))
    val_sequences: int = field(default=64, metadata=_help("validation trials, at most 1e6", MAX_TRIALS))
    test_sequences: int = field(default=128, metadata=_help("test trials, at most 1e6", MAX_TRIALS))
    optimizer: Literal["adam", "sgd"] = field(default="adam", metadata={"help": "optimizer"})
    schedule: Literal["cosine", "constant"] = field(default="cosine", metadata={"help": "learning-rate schedule"})
    momentum: float = field(default=0.0, metadata=_help("SGD momentum in [0, 1)", validate.probability))
    heterogeneity: float = field(
        default=0.0,
        metadata=_help("s.d. of the ring's multiplicative weight noise (fixed by --seed)", validate.probability),
    )
    g_av: float = field(
        default=0.0, metadata=_help("initial velocity gain (1 = Zhang's analytic setting)", validate.nonnegative_float)
    )
    train_excitability: bool = field(
        default=False, metadata={"help": "also learn the per-neuron excitability (the correction for heterogeneity)"}
    )
    tbptt_steps: int = field(
        default=0,
        metadata=_help("truncated backpropagation: steps per piece (0 = whole trials)", validate.nonnegative_int),
    )
    checkpoint_dir: Path = field(
        default=Path("runs/hd_ring_attractor"),
        metadata=_help("checkpoints, plots and test_metrics.json (rerunning resumes)", validate.output_dir),
    )
    resume: bool = field(default=True, metadata={"help": "resume from --checkpoint-dir when it holds a run"})


def _format(metrics: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.3g}" for key, value in metrics.items())


def _train(args: argparse.Namespace) -> int:
    options = config_from_args(TrainOptions, args)
    model = RingAttractorNetwork(
        options.n_exc,
        options.n_inh,
        g_av=options.g_av,
        heterogeneity=options.heterogeneity,
        network_seed=args.seed,
        device=args.device,
    )
    print(f"checkpoints and plots go to {options.checkpoint_dir}; base learning rate {options.lr:g}")
    model, history, trainer = train_model_enhanced(
        model,
        learning_rate=options.lr,
        max_epochs=options.epochs,
        batch_size=options.batch_size,
        threads=args.threads,
        n_sequences=options.sequences,
        validation_sequences=options.val_sequences,
        test_sequences=options.test_sequences,
        optimizer=options.optimizer,
        schedule=options.schedule,
        momentum=options.momentum,
        tbptt_steps=options.tbptt_steps,
        train_excitability=options.train_excitability,
        tensorboard_dir=str(args.tensorboard) if args.tensorboard else None,
        seed=args.seed,
        data_seed=args.seed,
        checkpoint_dir=str(options.checkpoint_dir),
        resume=options.resume,
        device=args.device,
        log_interval=1,
    )
    metrics = evaluate(model, trainer.test_data)
    with atomic_write(options.checkpoint_dir / "test_metrics.json") as handle:
        handle.write(json.dumps(metrics, indent=2) + "\n")
    stopped = f" ({trainer.stop_reason})" if trainer.stop_reason else ""
    print(f"trained {len(history['epoch'])} epochs{stopped}; test: {_format(metrics)}")
    print(f"checkpoints, plots and test_metrics.json are in {options.checkpoint_dir}")
    return 0


def _add_train(sub: argparse.ArgumentParser) -> None:
    add_config_arguments(sub, TrainOptions)
    add_common_arguments(sub)


def _demo(args: argparse.Namespace) -> int:
    """Train a small network from g_av = 0 and print what it learned next to the untrained one."""
    torch.set_num_threads(args.threads)
    checkpoints = args.out / "checkpoints"
    print(f"checkpoints and plots go to {checkpoints}")
    untrained = RingAttractorNetwork(args.n_exc, args.n_inh)
    model, _, trainer = train_model_enhanced(
        RingAttractorNetwork(args.n_exc, args.n_inh),
        learning_rate=1e-2,
        max_epochs=3 if args.fast else args.epochs,
        batch_size=8,
        threads=args.threads,
        n_sequences=32 if args.fast else 64,
        validation_sequences=32,
        test_sequences=64,
        seed=args.seed,
        checkpoint_dir=str(checkpoints),
        resume=False,
        log_interval=1,
    )
    before, after = evaluate(untrained, trainer.test_data), evaluate(model, trainer.test_data)
    cue = cue_only_error_deg(trainer.test_data)
    print("what it shows: path integration in darkness, test mean |error| after a 100 ms cue")
    print(f"- holding the cue (no velocity pathway): {cue['mean_error_deg']:.2f} deg")
    print(f"- untrained network (g_av = 0): {_format(before)}")
    print(f"- trained network: {_format(after)}")
    print(f"plots (training_curves.png, parameter_evolution.png) and checkpoints: {checkpoints}")
    return 0


def _add_demo(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--n-exc", type=validate.int_in_range(8, 100_000), default=64, help="excitatory neurons")
    sub.add_argument("--n-inh", type=validate.positive_int, default=16, help="inhibitory neurons")
    sub.add_argument("--epochs", type=validate.positive_int, default=6, help="training epochs")
    sub.add_argument("--fast", action="store_true", help="3 epochs on 32 trials (overrides --epochs)")
    sub.add_argument(
        "--out", type=validate.output_dir, default=Path("runs/hd_ring_attractor_demo"), help="output folder"
    )
    add_common_arguments(sub, device=False, tensorboard=False)


def _bench(args: argparse.Namespace) -> int:
    if args.estimate:
        from hd_ring_attractor.cost import estimate_cost

        torch.set_num_threads(args.threads)
        preset = PRESETS[args.preset]
        out = args.out or default_out("hd_ring_attractor", args.preset)
        validate.output_dir(out)
        estimate = estimate_cost(preset, args.seeds or preset.seeds, resolve_device(args.device))
        with atomic_write(out / "cost_estimate.json") as handle:
            handle.write(json.dumps(estimate, indent=2) + "\n")
        print(f"{estimate['summary']}; wrote {out / 'cost_estimate.json'}")
        return 0
    path = run_bench("hd_ring_attractor", PRESETS, build_spec, args)
    doc = json.loads(path.read_text())
    print(f"verdict: {doc['verdict']}")
    for name, comparison in doc.get("extra_comparisons", {}).items():
        if isinstance(comparison, dict) and "summary" in comparison:
            print(f"- {name}: {comparison['summary']}")
    return 0


def _add_bench(sub: argparse.ArgumentParser) -> None:
    add_bench_arguments(sub, PRESETS)
    sub.add_argument(
        "--estimate",
        action="store_true",
        help="time one epoch, one test report and one set of opponents at the preset's size and write the "
        "projected CPU time to OUT/cost_estimate.json instead of running the preset",
    )


def make_parser() -> argparse.ArgumentParser:
    return build_parser(
        "hd_ring_attractor",
        "A head-direction ring attractor trained to path-integrate angular velocity in darkness.",
        [
            Command("train", "train a network (resumes from --checkpoint-dir when it holds a run)", _add_train, _train),
            Command(
                "bench",
                "four optimizers with the same learning-rate search and budget, against the analytic ring",
                _add_bench,
                _bench,
            ),
            Command(
                "demo", "train a small network for a few epochs and compare it with the untrained one", _add_demo, _demo
            ),
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(make_parser(), argv)


def entry_point() -> None:
    sys.exit(main())


def bench_entry_point() -> None:
    sys.exit(main(["bench", *sys.argv[1:]]))
