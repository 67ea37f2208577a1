"""Calibration proof: on `linear_gaussian` the trained model must reproduce the analytic posterior.

The same pipeline as for urea (simulate -> prefixes -> TCN -> Gaussian heads -> NLL training) is
checked against the closed-form posterior: its marginal means and sds, and coverage at 1 and 2 sigma.
"""

from __future__ import annotations

import numpy as np
from early_inference import simulators
from early_inference.evaluate import gaussian_metrics
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.train_early_inference import CONFIG, predict, prepare_split, train
from scipy import stats

MODEL = {"channels": [16, 16], "kernel_size": 3, "mlp_hidden": [], "head_hidden": 32}
# The v2 model (CONFIG: contrast readout, beta-NLL, cosine schedule, validation-fitted variance scale).
TRAINING = {**CONFIG, "batch_size": 128, "lr": 3e-3, "warmup_epochs": 2}


def calibration_against_analytic_posterior(n_train: int, epochs: int, prefix_points: int, seed: int = 0):
    sim = simulators.get("linear_gaussian")
    data = generate_dataset(
        {
            "simulator": "linear_gaussian",
            "n_train": n_train,
            "n_val": 500,
            "n_test": 2000,
            "prefix_lengths": [30],
            "prefix_n_points": prefix_points,
            "seed": seed,
        },
        n_workers=1,
    )
    result = train(data, 30, TRAINING, MODEL, seed=seed, max_epochs=epochs)
    mean, var = predict(result.model, prepare_split(data, "test", 30, result.normalizer, config=TRAINING))
    posterior_mean, posterior_cov = sim.posterior(data.obs["test"][30], data.times[30])
    exact_mean = sim.to_target(posterior_mean)
    exact_sd = np.sqrt(np.diag(posterior_cov)) / sim.target_scale
    truth = sim.to_target(data.params["test"])
    rows = []
    for j in range(2):
        model = gaussian_metrics(mean[:, j], var[:, j], truth[:, j])
        exact = gaussian_metrics(exact_mean[:, j], np.full(len(truth), exact_sd[j] ** 2), truth[:, j])
        rows.append(
            {
                "sd_ratio": float(np.mean(np.sqrt(var[:, j])) / exact_sd[j]),
                "mean_error_over_sd": float(np.sqrt(np.mean((mean[:, j] - exact_mean[:, j]) ** 2)) / exact_sd[j]),
                "nll_excess": model["nll"] - exact["nll"],
                "coverage_1sigma": model["coverage_1sigma"],
                "coverage_2sigma": model["coverage_2sigma"],
            }
        )
    return rows


def assert_calibrated(rows, sd_ratio_band, max_mean_error, max_nll_excess):
    nominal = {1: stats.norm.cdf(1) - stats.norm.cdf(-1), 2: stats.norm.cdf(2) - stats.norm.cdf(-2)}
    for row in rows:
        for k in (1, 2):
            assert abs(row[f"coverage_{k}sigma"] - nominal[k]) <= 0.03, row
        assert sd_ratio_band[0] <= row["sd_ratio"] <= sd_ratio_band[1], row
        assert row["mean_error_over_sd"] <= max_mean_error, row
        assert row["nll_excess"] <= max_nll_excess, row
        # A model beating the Bayes posterior would mean a leak from the test truths.
        assert row["nll_excess"] > -0.02, row


# Tolerances: an imperfect mean (RMS error e, in posterior sds) is absorbed by a wider sigma,
# sqrt(1 + e^2), which keeps coverage nominal; these bound how far from the exact posterior that is.
TOLERANCES = {"sd_ratio_band": (0.85, 1.25), "max_mean_error": 0.6, "max_nll_excess": 0.15}


def test_model_matches_the_analytic_posterior_fast():
    """32 points per prefix keeps this under ~20 s (on the 100-point grid, see the README's known limits)."""
    rows = calibration_against_analytic_posterior(n_train=4000, epochs=15, prefix_points=32)
    assert_calibrated(rows, **TOLERANCES)
