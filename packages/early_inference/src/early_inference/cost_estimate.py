"""Estimate the ``quick`` bench's training cost from timed optimizer steps, without running it.

``python -m early_inference.cost_estimate --out FOLDER`` times ``--steps`` optimizer steps of each A/B
arm at the preset's network size (process CPU time, one thread, which a busy machine distorts less than
wall time), then multiplies by the preset's step budget and seeds. Not included: validation passes, the
least-squares fit, the MLP, sbi and data generation; the JSON says so.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from early_inference import simulators
from early_inference.bench import PRESETS
from early_inference.evaluate import least_squares_fit
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.throughput import measure_training_throughput
from early_inference.train_early_inference import CONFIG, ORIGINAL_CONFIG
from trainkit import validate, write_json
from trainkit.cli import TrainkitArgumentParser, run_cli, set_handler

__all__ = ["estimate", "main"]


def _fit_cpu_s_per_sample(n: int = 3) -> float:
    """CPU seconds of the bounded least-squares fit per sample, averaged over the three prefix lengths."""
    sim = simulators.get("urea")
    data = generate_dataset({"n_train": 1, "n_val": 1, "n_test": n, "seed": 1}, n_workers=1)
    started = time.process_time()
    for length in data.prefix_lengths:
        least_squares_fit(sim, data.obs["test"][length], data.known["test"], data.times[length])
    return (time.process_time() - started) / (n * len(data.prefix_lengths))


def estimate(preset_name: str, steps: int) -> dict:
    preset = PRESETS[preset_name]
    per_seed_steps = sum(preset.steps.values())
    arms = {}
    for name, config in (("original", ORIGINAL_CONFIG), ("optimized", CONFIG)):
        points = config["prefix_points"] or 100
        probe = measure_training_throughput(preset.profile, 1, steps, config["batch_size"], config, points)
        arms[name] = {
            "cpu_s_per_step": probe.cpu_s_per_step,
            "batch_size": config["batch_size"],
            "points": points,
            "training_cpu_s_per_seed": probe.cpu_s_per_step * per_seed_steps,
        }
    total = sum(arm["training_cpu_s_per_seed"] for arm in arms.values()) * preset.seeds
    fit_cpu_per_sample = _fit_cpu_s_per_sample()
    return {
        "command": " ".join(["python -m early_inference.cost_estimate", *sys.argv[1:]]),
        "preset": preset_name,
        "steps_per_seed_per_arm": per_seed_steps,
        "seeds": preset.seeds,
        "arms": arms,
        "training_cpu_s_total_original_and_optimized": total,
        "least_squares_cpu_s_per_sample": fit_cpu_per_sample,
        "least_squares_cpu_s_total": fit_cpu_per_sample * preset.n_eval * len(preset.steps),
        "not_included": "validation passes, prefix MLP, sbi NPE, data generation, warm-ups",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="python -m early_inference.cost_estimate", description=__doc__)
    parser.add_argument("--out", type=validate.output_dir, required=True, help="folder for <preset>_cost_estimate.json")
    parser.add_argument("--steps", type=validate.positive_int, default=30, help="timed optimizer steps per arm")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="preset to estimate")

    def handler(args) -> int:
        print(write_json(args.out / f"{args.preset}_cost_estimate.json", estimate(args.preset, args.steps)))
        return 0

    set_handler(parser, handler)
    return run_cli(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
