"""Command line: ``python -m early_inference generate|train|evaluate|bench`` and three console scripts.

``generate-early-inference-data``, ``train-early-inference`` and ``early-inference-bench`` are the
``generate``, ``train`` and ``bench`` commands on their own (the original project's script names).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from early_inference import simulators
from early_inference.bench import DEFAULT_CACHE, PRESETS, make_build_spec
from early_inference.evaluate import GaussianPrediction, least_squares_fit, parameter_report, prior_only
from early_inference.generate_early_inference_data import CONFIG as DATA_CONFIG
from early_inference.generate_early_inference_data import SPLITS, load_dataset, load_or_generate
from early_inference.train_early_inference import (
    CONFIG,
    FLATTEN_CONFIG,
    MODEL_PROFILES,
    ORIGINAL_CONFIG,
    load_trained_model,
    predict,
    prepare_split,
    train,
)
from trainkit import CheckpointError, ConfigError, latest_checkpoint, validate, write_json
from trainkit.cli import (
    Command,
    TrainkitArgumentParser,
    add_common_arguments,
    build_parser,
    run_cli,
    set_handler,
)
from trainkit.harness import add_bench_arguments, run_bench

__all__ = ["bench_main", "build_parser_for", "entry_point", "generate_main", "main", "train_main"]

PACKAGE = "early_inference"
DESCRIPTION = "Calibrated inference of urease kinetics (E0, k_d) from early pH prefixes."
MODES = {"original": ORIGINAL_CONFIG, "optimized": CONFIG, "flatten": FLATTEN_CONFIG}


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulator", default=DATA_CONFIG["simulator"], choices=simulators.available(), help="which simulator"
    )
    for split in SPLITS:
        parser.add_argument(
            f"--n-{split}", type=validate.positive_int, default=DATA_CONFIG[f"n_{split}"], help=f"{split} trajectories"
        )
    parser.add_argument(
        "--prefix-lengths",
        type=validate.positive_float,
        nargs="+",
        default=DATA_CONFIG["prefix_lengths"],
        help="prefix lengths in seconds; one model is trained per length",
    )
    parser.add_argument(
        "--prefix-n-points",
        type=validate.int_in_range(8, 100_000),
        default=DATA_CONFIG["prefix_n_points"],
        help="points per prefix, uniform on [0, L]",
    )
    parser.add_argument("--adaptive-n-points", action="store_true", help="keep dt ~ 0.3 s (100/200/1000 points)")
    parser.add_argument("--seed", type=validate.seed, default=DATA_CONFIG["seed"], help="dataset seed")
    parser.add_argument(
        "--workers",
        type=validate.positive_int,
        default=None,
        help="processes (local) or tasks in flight (ray); default: all cores / all cluster CPUs",
    )
    parser.add_argument(
        "--cache-dir", type=validate.output_dir, default=DEFAULT_CACHE, help="where the .npz is cached by config hash"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local process pool, or Ray tasks (needs the `distributed` extra); same bytes for the same seed",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="with --backend ray: 'auto' joins the cluster started by `ray start --head`, or HOST:PORT "
        "(default: RAY_ADDRESS if set, else a local Ray)",
    )


def generate(args: argparse.Namespace) -> int:
    if args.ray_address and args.backend != "ray":
        raise ConfigError("--ray-address needs --backend ray")
    config = {
        "simulator": args.simulator,
        "n_train": args.n_train,
        "n_val": args.n_val,
        "n_test": args.n_test,
        "prefix_lengths": args.prefix_lengths,
        "prefix_n_points": args.prefix_n_points,
        "use_adaptive_n_points": args.adaptive_n_points,
        "seed": args.seed,
    }
    started = time.perf_counter()
    _, path = load_or_generate(config, args.cache_dir, args.workers, args.backend, args.ray_address)
    print(f"{path} ({time.perf_counter() - started:.1f} s)")
    return 0


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=validate.existing_file, required=True, help="dataset .npz from `generate`")
    parser.add_argument("--prefix-length", type=validate.positive_float, required=True, help="seconds")
    parser.add_argument(
        "--mode",
        choices=sorted(MODES),
        default="optimized",
        help="original = the seed's settings, optimized = the v2 model, flatten = v2 with a flatten readout",
    )
    parser.add_argument("--profile", choices=sorted(MODEL_PROFILES), default="bench", help="network size")
    parser.add_argument(
        "--schedule", choices=("cosine", "plateau"), default=None, help="override the mode's learning-rate schedule"
    )
    parser.add_argument(
        "--prefix-points",
        type=validate.nonnegative_int,
        default=None,
        help="override the mode's prefix averaging: N bins, or 0 for the full prefix",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=validate.positive_int, default=None, help="optimizer steps (the budget)")
    budget.add_argument("--epochs", type=validate.positive_int, default=None, help="epochs (default 60)")
    parser.add_argument(
        "--run-dir", type=validate.output_dir, required=True, help="checkpoints and log.csv; rerun to resume"
    )
    add_common_arguments(parser)


def _config(args: argparse.Namespace) -> dict:
    """The mode's config with the command line's overrides."""
    config = dict(MODES[args.mode])
    if args.schedule:
        config["schedule"] = args.schedule
    if args.prefix_points is not None:
        config["prefix_points"] = args.prefix_points or None
    return config


def train_command(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    matches = [x for x in data.prefix_lengths if float(x) == args.prefix_length]
    if not matches:
        raise ConfigError(f"--prefix-length {args.prefix_length:g} is not in {args.data} ({data.prefix_lengths})")
    epochs = args.epochs if args.epochs or args.steps else 60
    result = train(
        data,
        matches[0],
        _config(args),
        MODEL_PROFILES[args.profile],
        args.seed,
        max_epochs=epochs,
        max_steps=args.steps,
        run_dir=args.run_dir,
        device=args.device,
        show_progress=True,
        tensorboard_dir=args.tensorboard,
    )
    last = result.history[-1] if result.history else {}
    print(
        f"{args.mode} {matches[0]:g} s: best val NLL {result.best_val_nll:.4f} after {result.optimizer_steps} steps "
        f"({result.stop_reason}); {last.get('elapsed_s', 0):.1f} s; log {args.run_dir / 'log.csv'}"
    )
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, required=True, help="the run folder `train` wrote")
    parser.add_argument("--data", type=validate.existing_file, required=True, help="the dataset it was trained on")
    parser.add_argument("--split", choices=SPLITS, default="test", help="split to score")
    parser.add_argument(
        "--fit-samples", type=validate.positive_int, default=100, help="samples for the least-squares fit (slow)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the metrics as JSON here")


def _evaluate_reports(args: argparse.Namespace) -> tuple[dict, str]:
    checkpoint = latest_checkpoint(args.run_dir)
    if checkpoint is None:
        raise CheckpointError(f"{args.run_dir}: no checkpoint; run `python -m early_inference train` first")
    model, identity = load_trained_model(checkpoint)
    data = load_dataset(args.data, expected_config=identity["data_config"])
    sim = simulators.get(identity["simulator"])
    length = next(x for x in data.prefix_lengths if float(x) == identity["prefix_length"])
    split = prepare_split(data, args.split, length, identity["normalizer"], config=identity["config"])
    started = time.perf_counter()
    mean, var = predict(model, split, raw=True)
    seconds = (time.perf_counter() - started) / len(mean)
    scale = identity["fitted_variance_scale"]
    truth, head = data.params[args.split], slice(0, args.fit_samples)
    fit = least_squares_fit(sim, data.obs[args.split][length][head], data.known[args.split][head], data.times[length])
    reports = {
        "model": parameter_report(sim, GaussianPrediction(mean, var, seconds), truth),
        "model_variance_rescaled": parameter_report(sim, GaussianPrediction(mean, var * scale, seconds), truth),
        "model_on_fit_samples": parameter_report(
            sim, GaussianPrediction(mean[head], (var * scale)[head], seconds), truth[head]
        ),
        "least_squares": parameter_report(sim, fit, truth[head]),
        "prior_only": parameter_report(sim, prior_only(sim, len(truth)), truth),
    }
    scales = ", ".join(f"{name} {value:.3g}" for name, value in zip(sim.param_names, scale))
    header = f"{identity['simulator']}, {length:g} s prefix, {args.split} split ({len(truth)} samples); "
    return reports, header + f"variance scale fitted on the val split: {scales}"


def evaluate(args: argparse.Namespace) -> int:
    reports, header = _evaluate_reports(args)
    names = [key for key in reports["model"] if isinstance(reports["model"][key], dict)]
    print(header)
    print(
        f"{'method':<25}{'parameter':<14}{'MAE':>10}{'RMSE/prior':>12}{'NLL':>8}{'cov1σ':>7}{'cov2σ':>7}{'ms/smp':>8}"
    )
    for method, report in reports.items():
        for name in names:
            cell, ms = report[name], report["seconds_per_sample"] * 1e3
            print(
                f"{method:<25}{name:<14}{cell['mae']:>10.4g}{cell['rmse_over_prior_sd']:>12.3f}{cell['nll']:>8.3f}"
                f"{cell['coverage_1sigma']:>7.2f}{cell['coverage_2sigma']:>7.2f}{ms:>8.3f}"
            )
    if args.out:
        write_json(args.out, reports)
    return 0


def add_bench_command_arguments(parser: argparse.ArgumentParser) -> None:
    add_bench_arguments(parser, PRESETS)
    parser.add_argument("--cache-dir", type=validate.output_dir, default=DEFAULT_CACHE, help="dataset cache")


def bench(args: argparse.Namespace) -> int:
    run_bench(PACKAGE, PRESETS, make_build_spec(args.cache_dir), args)
    return 0


COMMANDS = {
    "generate": Command("generate", "simulate a dataset and cache it as .npz by config hash", add_generate_arguments,
                        generate),
    "train": Command("train", "train one model for one prefix length; rerun to resume", add_train_arguments,
                     train_command),
    "evaluate": Command("evaluate", "metrics of a trained run vs the least-squares fit and the prior",
                        add_evaluate_arguments, evaluate),
    "bench": Command("bench", "original vs optimized and every peer on the same samples; writes benchmark.json",
                     add_bench_command_arguments, bench),
}  # fmt: skip


def make_parser() -> TrainkitArgumentParser:
    return build_parser(PACKAGE, DESCRIPTION, list(COMMANDS.values()))


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(make_parser(), argv)


entry_point = main


def build_parser_for(command: str, prog: str) -> TrainkitArgumentParser:
    """A console script's parser: one command's flags and handler, no subcommand."""
    spec = COMMANDS[command]
    parser = TrainkitArgumentParser(prog=prog, description=spec.help)
    spec.add_arguments(parser)
    set_handler(parser, spec.handler)
    return parser


def generate_main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser_for("generate", "generate-early-inference-data"), argv)


def train_main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser_for("train", "train-early-inference"), argv)


def bench_main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser_for("bench", "early-inference-bench"), argv)
