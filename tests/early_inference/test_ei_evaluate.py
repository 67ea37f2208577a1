"""Metrics against known values, and the least-squares baseline on the real simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from early_inference import simulators
from early_inference.evaluate import (
    calibration_curve,
    crps_gaussian,
    flat_prefix_inputs,
    gaussian_metrics,
    least_squares_fit,
    mlp_on_prefix,
    parameter_report,
    prior_only,
)
from early_inference.generate_early_inference_data import generate_dataset


def test_crps_matches_the_properscoring_reference_value():
    # properscoring.crps_gaussian(0, mu=0, sig=1) = 0.23369497725510913
    assert crps_gaussian(np.array(0.0), np.array(0.0), np.array(1.0)) == pytest.approx(0.23369497725510913)


def test_coverage_and_pit_detect_over_confidence():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=20000)
    truth = mean + rng.normal(size=20000)
    honest = gaussian_metrics(mean, np.ones_like(mean), truth)
    assert honest["coverage_1sigma"] == pytest.approx(0.6827, abs=0.01)
    assert honest["coverage_2sigma"] == pytest.approx(0.9545, abs=0.005)
    assert honest["pit_ks"] < 0.02 and honest["z_var"] == pytest.approx(1.0, abs=0.03)
    overconfident = gaussian_metrics(mean, np.full_like(mean, 0.25), truth)
    assert overconfident["coverage_1sigma"] < 0.45 and overconfident["pit_ks"] > 0.1
    assert overconfident["nll"] > honest["nll"]
    levels = np.array([0.5, 0.9])
    np.testing.assert_allclose(calibration_curve(mean, np.ones_like(mean), truth, levels), levels, atol=0.01)


def test_prior_only_has_no_skill_and_least_squares_recovers_e0():
    sim = simulators.get("urea")
    data = generate_dataset({"n_train": 1, "n_val": 1, "n_test": 6, "prefix_lengths": [300]}, n_workers=1)
    truth = data.params["test"]
    prior = parameter_report(sim, prior_only(sim, len(truth)), truth)
    fit = least_squares_fit(sim, data.obs["test"][300], data.known["test"], data.times[300])
    report = parameter_report(sim, fit, truth)
    assert report["E0_g_per_L"]["mae"] < 0.05 * prior["E0_g_per_L"]["mae"]
    assert np.all(np.abs(sim.from_target(fit.mean)[:, 0] / truth[:, 0] - 1) < 0.1)
    assert fit.seconds_per_sample > 0
    assert report["k_d_per_s"]["rmse_over_prior_sd"] < 0.6


def test_mlp_on_prefix_learns_a_late_vs_early_contrast_and_is_reproducible():
    """The target is the prefix's late-minus-early slope, which no sum over time steps can read."""
    generator = torch.Generator().manual_seed(0)

    def make(n):
        slope = torch.randn(n, 1, generator=generator)
        steps = torch.linspace(0, 1, 20)
        x = torch.zeros(n, 3, 20)
        x[:, 0] = slope * (steps - 0.5) + 0.05 * torch.randn(n, 20, generator=generator)
        known = torch.randn(n, 2, generator=generator)
        return flat_prefix_inputs(x, known), torch.cat([slope, known[:, :1]], dim=1)

    (train_in, train_y), (val_in, val_y), (test_in, test_y) = make(512), make(128), make(256)
    assert train_in.shape == (512, 22)
    result = mlp_on_prefix(train_in, train_y, val_in, val_y, test_in, seed=0, max_steps=160)
    rmse = np.sqrt(np.mean((result.prediction.mean - test_y.numpy()) ** 2, axis=0))
    assert np.all(rmse < 0.3 * test_y.numpy().std(axis=0))  # both parameters learned
    sigma = np.sqrt(result.prediction.var).mean(axis=0)
    assert np.all(sigma < 0.5 * test_y.numpy().std(axis=0)) and np.all(sigma > 0.5 * rmse)  # shrunk, not collapsed
    assert result.optimizer_steps == [160, 160]  # the same step budget for each network
    assert result.train_seconds > 0 and result.prediction.seconds_per_sample > 0
    again = mlp_on_prefix(train_in, train_y, val_in, val_y, test_in, seed=0, max_steps=160)
    np.testing.assert_array_equal(again.prediction.mean, result.prediction.mean)
    shared = mlp_on_prefix(train_in, train_y, val_in, val_y, test_in, 0, max_steps=3, per_parameter=False)
    assert shared.optimizer_steps == [3] and shared.prediction.mean.shape == test_y.shape
