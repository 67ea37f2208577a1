"""Command line: `python -m neuro_gym {train,bench,stdp-competition} --help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from neuro_gym.circuit import Circuit
from neuro_gym.profiles import PROFILES, get_profile
from neuro_gym.smart_trainer import checkpointed_epochs, train_relentless
from neuro_gym.tasks import sequence_task, validate_task_data, xor_task
from trainkit import BatchedCSVLogger, progress_bar, resolve_device, seed_everything
from trainkit import cli as trainkit_cli
from trainkit.cli import Command, add_common_arguments
from trainkit.harness import DEFAULT_PRESET, add_bench_arguments, default_out, run_bench
from trainkit.npz import load_npz
from trainkit.run_folder import claim_run_folder
from trainkit.validate import ValidationError, existing_file, output_dir, positive_float, positive_int, probability

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
    # Derived for the TensorBoard sink too: STDP has no loss; its learning rate is the plasticity's decayed factor.
    "stdp_lr_factor",
    "samples_per_s",
]


def _load_task_file(path: Path) -> dict[str, Any]:
    """An .npz with `inputs` and `labels` (optionally eval_inputs/eval_labels, num_classes)."""
    task: dict[str, Any] = dict(load_npz(path))
    if "num_classes" in task:
        task["num_classes"] = int(task["num_classes"])
    task.setdefault("name", path.stem)
    return validate_task_data(task)


def _log_row(status: dict[str, Any], circuit: Circuit, samples: int) -> dict[str, Any]:
    """One log row: the status's fields, the readout's STDP rate factor and training samples per second."""
    row = {key: status[key] for key in LOG_FIELDS if key in status}
    row["stdp_lr_factor"] = circuit.plasticity.lr_factor
    row["samples_per_s"] = samples / max(status["train_ms"] / 1000.0, 1e-9)
    return row


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
    claim_run_folder(checkpoint_dir, recursive=True)
    status: dict[str, Any] = {}
    samples = len(task["labels"])
    with (
        # A resumed run keeps the log rows of the epochs its checkpoint holds, and no later ones.
        BatchedCSVLogger(
            checkpoint_dir / "log.csv",
            LOG_FIELDS,
            batch_size=50,
            keep_rows=checkpointed_epochs(checkpoint_dir),
            tensorboard_dir=args.tensorboard,
            step_field="epoch",
        ) as log,
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
            log.log(_log_row(status, circuit, samples))
            if status["checkpoint_due"]:
                log.flush()  # before the checkpoint: the log on disk never lags the one a resume starts from
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


README = Path(__file__).resolve().parents[2] / "README.md"  # present in a source checkout only


def cmd_bench(args: argparse.Namespace) -> int:
    from neuro_gym.bench import PRESETS, build_spec
    from neuro_gym.headline import update_readme

    path = run_bench("neuro_gym", PRESETS, build_spec, args)
    evidence = default_out("neuro_gym", DEFAULT_PRESET)
    # Only the committed evidence run rewrites the README's first table, from the file it just wrote.
    is_evidence = args.preset == DEFAULT_PRESET and path.parent.resolve() == evidence.resolve()
    if is_evidence and update_readme(README, path, source=f"{evidence.as_posix()}/benchmark.json"):
        print(f"updated the headline table in {README}")
    return 0


def cmd_stdp_competition(args: argparse.Namespace) -> int:
    from neuro_gym.experiments import stdp_competition
    from trainkit.plotting import first_axes, new_figure, save_figure

    result = stdp_competition(args.seed, duration_s=args.duration, dt_ms=args.dt)
    weights = result["weights"]
    fig, axes = new_figure(figsize=(5, 3.4))
    ax = first_axes(axes)
    ax.hist(weights, bins=40, range=(0, 1), color="tab:blue")
    ax.set_xlabel("final weight / w_max")
    ax.set_ylabel("synapses")
    ax.set_title(
        f"STDP competition (Song, Miller & Abbott 2000), {args.duration:g} s, post {result['post_rate_hz']:.1f} Hz",
        fontsize=8,
    )
    png = save_figure(fig, args.out / "stdp_competition.png", dpi=110)
    low, high = float((weights < 0.1).mean()), float((weights > 0.9).mean())
    print(
        f"wrote {png}: {low:.1%} of weights < 0.1 w_max, {high:.1%} > 0.9 w_max, "
        f"post rate {result['post_rate_hz']:.1f} Hz"
    )
    return 0


def _with_threads(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Sets torch's CPU threads to ``--threads`` before the command runs."""

    def run(args: argparse.Namespace) -> int:
        torch.set_num_threads(args.threads)
        return handler(args)

    return run


def _target(value: str) -> float:
    """An accuracy in (0, 1]: a target of 0 holds from the first epoch and would end the run at once."""
    accuracy = probability(value)
    if accuracy == 0.0:
        raise ValidationError(f"must be an accuracy in (0, 1], got {value!r}")
    return accuracy


def _brain_path(value: str) -> Path:
    """The file the trained circuit goes to; its folder is probed now, not after training."""
    path = Path(value)
    output_dir(path.parent)
    return path


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--task", choices=("xor", "sequence"), default="xor", help="built-in task")
    train.add_argument(
        "--task-file", type=existing_file, default=None, help=".npz with inputs/labels instead of --task"
    )
    train.add_argument("--profile", choices=sorted(PROFILES), default="balanced", help="training settings")
    train.add_argument("--max-epochs", type=positive_int, default=300, help="epochs at most")
    train.add_argument("--target", type=_target, default=None, help="accuracy to hold (default: 1.0 XOR, 0.9 else)")
    train.add_argument("--engine", choices=("batched", "loop"), default="batched", help="batched (fused) or per-sample")
    train.add_argument("--checkpoint-dir", type=output_dir, default=None, help="default checkpoints/neuro_gym/<run>")
    train.add_argument("--checkpoint-every", type=positive_int, default=10, help="epochs between checkpoints")
    train.add_argument("--save-brain", type=_brain_path, default=None, help="where to save the trained circuit")
    add_common_arguments(train)


def _add_stdp_arguments(stdp: argparse.ArgumentParser) -> None:
    stdp.add_argument("--out", type=output_dir, required=True, help="output folder")
    stdp.add_argument("--duration", type=positive_float, default=100.0, help="simulated seconds")
    stdp.add_argument("--dt", type=positive_float, default=0.1, help="time step in ms")
    add_common_arguments(stdp, device=False, tensorboard=False)


def _add_bench_arguments(bench: argparse.ArgumentParser) -> None:
    from neuro_gym.bench import PRESETS

    add_bench_arguments(bench, PRESETS)


def make_parser() -> argparse.ArgumentParser:
    return trainkit_cli.build_parser(
        "neuro_gym",
        "Spiking circuits that learn XOR and order-coded sequences.",
        [
            Command(
                "train",
                "train a circuit with train_relentless (checkpoints; rerun to resume)",
                _add_train_arguments,
                _with_threads(cmd_train),
            ),
            Command(
                "bench", "original vs optimized benchmark -> benchmark.json + PNG", _add_bench_arguments, cmd_bench
            ),
            Command(
                "stdp-competition",
                "Song, Miller & Abbott (2000) weight histogram -> PNG",
                _add_stdp_arguments,
                _with_threads(cmd_stdp_competition),
            ),
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    return trainkit_cli.run_cli(make_parser(), argv)


def entry() -> None:
    sys.exit(main(sys.argv[1:]))


def bench_entry() -> None:
    sys.exit(main(["bench", *sys.argv[1:]]))


if __name__ == "__main__":
    entry()
