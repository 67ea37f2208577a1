"""Command line: ``python -m early_inference generate|train|evaluate|bench``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from early_inference import simulators
from early_inference.bench import run_bench
from early_inference.evaluate import (
    GaussianPrediction,
    least_squares_fit,
    parameter_report,
    prior_only,
)
from early_inference.generate_early_inference_data import (
    CONFIG as DATA_CONFIG,
)
from early_inference.generate_early_inference_data import (
    SPLITS,
    load_dataset,
    load_or_generate,
)
from early_inference.train_early_inference import (
    CONFIG,
    FLATTEN_CONFIG,
    MODEL_PROFILES,
    ORIGINAL_CONFIG,
    load_trained_model,
    predict,
    prepare_split,
    train,
    validation_variance_scale,
)
from trainkit import CheckpointError, ConfigError, latest_checkpoint, run_cli
from trainkit.benchmark import add_bench_arguments

__all__ = ["bench_entry_point", "build_parser", "entry_point", "main"]

DEFAULT_CACHE = Path.home() / ".cache" / "early_inference"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="early_inference",
        description="Calibrated inference of urease kinetics (E0, k_d) from early pH prefixes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="simulate a dataset (process pool) and cache it as .npz by config hash")
    gen.add_argument("--simulator", default=DATA_CONFIG["simulator"], choices=simulators.available())
    gen.add_argument("--n-train", type=int, default=DATA_CONFIG["n_train"])
    gen.add_argument("--n-val", type=int, default=DATA_CONFIG["n_val"])
    gen.add_argument("--n-test", type=int, default=DATA_CONFIG["n_test"])
    gen.add_argument("--prefix-lengths", type=float, nargs="+", default=DATA_CONFIG["prefix_lengths"])
    gen.add_argument("--prefix-n-points", type=int, default=DATA_CONFIG["prefix_n_points"])
    gen.add_argument("--adaptive-n-points", action="store_true", help="keep dt ~ 0.3 s (100/200/1000 points)")
    gen.add_argument("--seed", type=int, default=DATA_CONFIG["seed"])
    gen.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    gen.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)

    tr = sub.add_parser("train", help="train one model for one prefix length; rerun to resume")
    tr.add_argument("--data", type=Path, required=True, help="dataset .npz written by `generate`")
    tr.add_argument("--prefix-length", type=float, required=True)
    tr.add_argument(
        "--mode",
        choices=["original", "optimized", "flatten"],
        default="optimized",
        help="original = avg pooling + ORIGINAL_CONFIG, optimized = weighted pooling + CONFIG, "
        "flatten = position-aware flatten readout + CONFIG (the bench's extra arm C)",
    )
    tr.add_argument("--profile", choices=sorted(MODEL_PROFILES), default="bench")
    tr.add_argument("--epochs", type=int, default=60)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--run-dir", type=Path, required=True, help="checkpoints and log.csv; resumes from here")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--threads", type=int, default=1)

    ev = sub.add_parser("evaluate", help="metrics of a trained run vs prior-only and least-squares baselines")
    ev.add_argument("--run-dir", type=Path, required=True)
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--split", choices=SPLITS, default="test")
    ev.add_argument("--fit-samples", type=int, default=100, help="samples for the least-squares fit (slow)")
    ev.add_argument("--out", type=Path, default=None, help="write the metrics as JSON here")

    be = sub.add_parser("bench", help="original vs optimized, interleaved, same seeds; writes benchmark.json")
    add_bench_arguments(be)
    be.add_argument(
        "--threads", type=int, default=1, help="torch threads, the same for both modes (1 is robust on a busy machine)"
    )
    be.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="dataset cache")
    return parser


def _generate(args: argparse.Namespace) -> int:
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
    _, path = load_or_generate(config, args.cache_dir, n_workers=args.workers)
    print(f"{path} ({time.perf_counter() - started:.1f} s)")
    return 0


def _train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    length = args.prefix_length
    if length not in [float(x) for x in data.prefix_lengths]:
        raise ConfigError(f"--prefix-length {length:g} is not in {args.data} ({data.prefix_lengths})")
    length = next(x for x in data.prefix_lengths if float(x) == length)
    config = {"original": ORIGINAL_CONFIG, "optimized": CONFIG, "flatten": FLATTEN_CONFIG}[args.mode]
    result = train(
        data,
        length,
        config,
        MODEL_PROFILES[args.profile],
        args.seed,
        args.epochs,
        args.run_dir,
        args.device,
        show_progress=True,
    )
    last = result.history[-1] if result.history else {}
    print(
        f"{args.mode} {length:g} s: best val NLL {result.best_val_nll:.4f} after {len(result.history)} epochs "
        f"({result.stop_reason}); {last.get('elapsed_s', 0):.1f} s; log {args.run_dir / 'log.csv'}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
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
    model_prediction = GaussianPrediction(mean, var, (time.perf_counter() - started) / len(mean))
    truth = data.params[args.split]
    # Post-hoc variance scaling, fitted on the validation split (never on the split being scored).
    variance_scale = validation_variance_scale(model, data, length, identity["normalizer"], config=identity["config"])
    head = slice(0, args.fit_samples)
    fit = least_squares_fit(sim, data.obs[args.split][length][head], data.known[args.split][head], data.times[length])
    reports = {
        "model": parameter_report(sim, model_prediction, truth),
        "model_variance_rescaled": parameter_report(
            sim, GaussianPrediction(mean, var * variance_scale, model_prediction.seconds_per_sample), truth
        ),
        "model_on_fit_samples": parameter_report(
            sim, GaussianPrediction(mean[head], var[head], model_prediction.seconds_per_sample), truth[head]
        ),
        "least_squares": parameter_report(sim, fit, truth[head]),
        "prior_only": parameter_report(sim, prior_only(sim, len(truth)), truth),
    }
    print(f"{identity['simulator']}, {length:g} s prefix, {args.split} split ({len(truth)} samples)")
    scales = ", ".join(f"{name} {value:.3g}" for name, value in zip(sim.param_names, variance_scale))
    print(f"variance scale fitted on the val split: {scales}")
    print(
        f"{'method':<25}{'parameter':<14}{'MAE':>10}{'RMSE/prior':>12}{'NLL':>8}{'cov1σ':>7}{'cov2σ':>7}{'ms/sample':>11}"
    )
    for method, report in reports.items():
        for name in sim.param_names:
            cell = report[name]
            ms = report["seconds_per_sample"] * 1e3
            print(
                f"{method:<25}{name:<14}{cell['mae']:>10.4g}{cell['rmse_over_prior_sd']:>12.3f}{cell['nll']:>8.3f}"
                f"{cell['coverage_1sigma']:>7.2f}{cell['coverage_2sigma']:>7.2f}{ms:>11.3f}"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(reports, indent=2))
    return 0


def _bench(args: argparse.Namespace) -> int:
    out = args.out or Path("reports/bench/early_inference")
    path = run_bench(args.preset, args.seeds, out, device=args.device, threads=args.threads, cache_dir=args.cache_dir)
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"generate": _generate, "train": _train, "evaluate": _evaluate, "bench": _bench}
    return commands[args.command](args)


def entry_point(argv: Sequence[str] | None = None) -> int:
    return run_cli(main, argv, prog="early_inference")


def bench_entry_point(argv: Sequence[str] | None = None) -> int:
    import sys

    return entry_point(["bench", *(sys.argv[1:] if argv is None else argv)])
