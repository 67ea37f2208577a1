"""Why v2 does not learn k_d at 30 and 60 s where the prefix MLP does: one method, one prefix, on validation.

``python -m early_inference.readout_check --data FILE.npz --prefix 60 --steps 1000 --method optimized --out
FOLDER`` trains one method for exactly ``--steps`` optimizer steps (the TCN configs through ``train``, the
MLP through ``mlp_on_prefix``; the fit needs no training) and scores it on the **validation** split: E0 MAE,
k_d RMSE / prior sd, NLL. It writes ``<method>_<L>s_<steps>steps_seed<k>_val.json``. CPU seconds are
process time on one thread, which a loaded machine distorts less than wall time. Never the test split.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from early_inference import simulators
from early_inference.configs import CONFIG, MODEL_PROFILES
from early_inference.evaluate import (
    GaussianPrediction,
    flat_prefix_inputs,
    least_squares_fit,
    mlp_on_prefix,
    parameter_report,
)
from early_inference.generate_early_inference_data import EarlyInferenceData, load_dataset
from early_inference.prepared import known_normalizer, predict, prepare_split
from early_inference.train_early_inference import train
from trainkit import validate, write_json
from trainkit.cli import TrainkitArgumentParser, run_cli, set_handler

__all__ = ["METHODS", "check", "main"]

# TCN configs screened; "optimized" is CONFIG as it stands. "mlp" and "least_squares" are the references.
METHODS: dict[str, dict | None] = {
    "optimized": {},
    "optimized_no_branch": {"prefix_branch": 0},
    "optimized_branch64": {"prefix_branch": 64},
    "optimized_shared_branch64": {"prefix_branch": 64, "branch_per_parameter": False},
    "optimized_no_branch_plain_nll": {"prefix_branch": 0, "beta_nll": 0.0},
    "optimized_branch64_plain_nll": {"prefix_branch": 64, "beta_nll": 0.0},
    # The prefix points and learning rate screened at the standard size (README); CONFIG before the screen
    # was points100_lr1e-3, and CONFIG now is points25_lr8e-3.
    "optimized_points100_lr1e-3": {"prefix_points": None, "lr": 1e-3},
    "optimized_points25_lr1e-3": {"prefix_points": 25, "lr": 1e-3},
    "optimized_points100_lr8e-3": {"prefix_points": None, "lr": 8e-3},
    "optimized_points25_lr8e-3": {"prefix_points": 25, "lr": 8e-3},
    "optimized_points100_lr1e-3_no_branch": {"prefix_points": None, "lr": 1e-3, "prefix_branch": 0},
    "mlp": None,
    "least_squares": None,
}
# The bench's prefix MLP (``peer_runs.run_peers``: CONFIG's inputs, one network per parameter) at each
# learning rate of its screen, the same screen as CONFIG's lr, on the same validation samples and budgets.
MLP_LEARNING_RATES = {"mlp_bench_lr1e-3": 1e-3, "mlp_bench_lr3e-3": 3e-3, "mlp_bench_lr8e-3": 8e-3}
METHODS.update(dict.fromkeys(MLP_LEARNING_RATES))


def _predict(data: EarlyInferenceData, method: str, length: float, steps: int, seed: int) -> GaussianPrediction:
    normalizer = known_normalizer(data)
    if method == "least_squares":
        sim = simulators.get(data.config["simulator"])
        return least_squares_fit(sim, data.obs["val"][length], data.known["val"], data.times[length])
    if method == "mlp":  # the bench's prefix MLP (peer_runs.py), same inputs and step budget
        train_split, val_split = (prepare_split(data, s, length, normalizer, "cpu") for s in ("train", "val"))
        train_in, val_in = (flat_prefix_inputs(s.x, s.known) for s in (train_split, val_split))
        result = mlp_on_prefix(train_in, train_split.target, val_in, val_split.target, val_in, seed, steps)
        return result.prediction
    if method in MLP_LEARNING_RATES:
        train_split, val_split = (prepare_split(data, s, length, normalizer, "cpu", CONFIG) for s in ("train", "val"))
        train_in, val_in = (flat_prefix_inputs(s.x, s.known) for s in (train_split, val_split))
        lr = MLP_LEARNING_RATES[method]
        result = mlp_on_prefix(train_in, train_split.target, val_in, val_split.target, val_in, seed, steps, lr=lr)
        return result.prediction
    config = {**CONFIG, **METHODS[method]}
    result = train(data, length, config, MODEL_PROFILES["ci"], seed=seed, max_steps=steps)
    mean, var = predict(result.model, prepare_split(data, "val", length, normalizer, "cpu", config))
    return GaussianPrediction(mean, var, 0.0)


def check(data_path: str, method: str, length: float, steps: int, seed: int) -> dict:
    data = load_dataset(data_path)
    torch.set_num_threads(1)
    started = time.process_time()
    prediction = _predict(data, method, length, steps, seed)
    cpu_s = time.process_time() - started
    report = parameter_report(simulators.get(data.config["simulator"]), prediction, data.params["val"])
    e0, kd = (report[name] for name in ("E0_g_per_L", "k_d_per_s"))
    return {
        "command": " ".join(["python -m early_inference.readout_check", *sys.argv[1:]]),
        "method": method,
        "config_overrides": METHODS[method],
        "dataset": {key: data.config[key] for key in ("n_train", "n_val", "seed")},
        "prefix_s": length,
        "steps": steps if METHODS[method] is not None or method.startswith("mlp") else 0,
        "seed": seed,
        "split": "val",
        "n": len(data.params["val"]),
        "cpu_s": cpu_s,
        "e0_mae": e0["mae"],
        "k_d_score": kd["rmse_over_prior_sd"],
        "nll": {"E0": e0["nll"], "k_d": kd["nll"]},
        "coverage_1sigma": {"E0": e0["coverage_1sigma"], "k_d": kd["coverage_1sigma"]},
        "coverage_2sigma": {"E0": e0["coverage_2sigma"], "k_d": kd["coverage_2sigma"]},
        "mean_abs_k_d_z": float(np.mean(np.abs(prediction.mean[:, 1]))),  # ~0 when k_d stays at the prior
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="python -m early_inference.readout_check", description=__doc__)
    parser.add_argument("--data", type=validate.existing_file, required=True, help="dataset .npz from `generate`")
    parser.add_argument("--prefix", type=validate.positive_float, required=True, help="prefix length in s")
    parser.add_argument("--steps", type=validate.positive_int, default=1000, help="optimizer steps")
    parser.add_argument("--method", choices=sorted(METHODS), default="optimized", help="what to train and score")
    parser.add_argument("--seed", type=validate.seed, default=0, help="training seed")
    parser.add_argument("--out", type=validate.output_dir, required=True, help="folder for the JSON")

    def handler(args) -> int:
        row = check(str(args.data), args.method, args.prefix, args.steps, args.seed)
        name = f"{args.method}_{args.prefix:g}s_{row['steps']}steps_seed{args.seed}_val.json"
        print(write_json(args.out / name, row))
        return 0

    set_handler(parser, handler)
    return run_cli(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
