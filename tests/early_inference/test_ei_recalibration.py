"""Post-hoc variance scaling: fitted on the validation split only, and it moves coverage toward nominal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from early_inference import simulators
from early_inference.configs import check_config
from early_inference.evaluate import fit_variance_scale, gaussian_metrics
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.prepared import predict, prepare_split
from early_inference.throughput import measure_training_throughput
from early_inference.train_early_inference import (
    CONFIG,
    MODEL_PROFILES,
    build_model_and_optimizer,
    train,
    validation_variance_scale,
)
from scipy import stats

from trainkit import ConfigError

NOMINAL_1SIGMA = stats.norm.cdf(1) - stats.norm.cdf(-1)


@pytest.fixture(scope="module")
def linear_data():
    return generate_dataset(
        {
            "simulator": "linear_gaussian",
            "n_train": 64,
            "n_val": 2000,
            "n_test": 2000,
            "prefix_lengths": [30],
            "prefix_n_points": 32,
        },
        n_workers=1,
    )


@pytest.mark.parametrize("sd_factor", [0.5, 2.0])
def test_scaling_fitted_on_val_brings_miscalibrated_posteriors_back_to_nominal(linear_data, sd_factor):
    """The analytic posterior with its sd shrunk (overconfident) or inflated (underconfident)."""
    sim = simulators.get("linear_gaussian")
    times = linear_data.times[30]

    def prediction(split):
        mean, cov = sim.posterior(linear_data.obs[split][30], times)
        var = np.diag(cov) / sim.target_scale**2 * sd_factor**2
        return sim.to_target(mean), np.broadcast_to(var, mean.shape), sim.to_target(linear_data.params[split])

    val_mean, val_var, val_truth = prediction("val")
    scale = fit_variance_scale(val_mean, val_var, val_truth)
    assert scale == pytest.approx(1 / sd_factor**2, rel=0.1)
    test_mean, test_var, test_truth = prediction("test")
    for j in range(2):
        before = gaussian_metrics(test_mean[:, j], test_var[:, j], test_truth[:, j])["coverage_1sigma"]
        after = gaussian_metrics(test_mean[:, j], test_var[:, j] * scale[j], test_truth[:, j])["coverage_1sigma"]
        assert abs(after - NOMINAL_1SIGMA) < abs(before - NOMINAL_1SIGMA)
        assert abs(after - NOMINAL_1SIGMA) <= 0.03
        # Overconfident (sd too small) means under-coverage, and scaling widens it; the reverse for 2x.
        assert (after > before) == (sd_factor < 1)


def test_validation_variance_scale_reads_the_validation_split_only(linear_data):
    model_kwargs = {"channels": [4, 4], "kernel_size": 3, "mlp_hidden": [], "head_hidden": 8}
    result = train(linear_data, 30, {**CONFIG, "batch_size": 32}, model_kwargs, seed=0, max_epochs=1)
    scale = validation_variance_scale(result.model, linear_data, 30, result.normalizer, config=CONFIG)
    assert scale.shape == (2,) and np.all(scale > 0)

    shuffled_test = generate_dataset({**linear_data.config, "seed": 7}, n_workers=1)
    shuffled_test.obs["val"], shuffled_test.params["val"] = linear_data.obs["val"], linear_data.params["val"]
    shuffled_test.known["val"] = linear_data.known["val"]
    np.testing.assert_allclose(
        validation_variance_scale(result.model, shuffled_test, 30, result.normalizer, config=CONFIG), scale
    )

    other_val = generate_dataset({**linear_data.config, "seed": 7}, n_workers=1)
    assert not np.allclose(
        validation_variance_scale(result.model, other_val, 30, result.normalizer, config=CONFIG), scale
    )


def test_throughput_probe_trains_the_network_train_builds():
    probe = measure_training_throughput("ci", threads=1, steps=2, batch_size=32)
    assert probe.samples_per_s > 0
    torch.manual_seed(0)
    reference, _ = build_model_and_optimizer(3, 2, CONFIG, {**MODEL_PROFILES["ci"], "sequence_length": 100})
    trained = probe.model.state_dict()
    assert type(probe.model) is type(reference) and probe.model.pooling_kind == CONFIG["pooling"]
    assert {k: v.shape for k, v in trained.items()} == {k: v.shape for k, v in reference.state_dict().items()}
    # Same seed and construction: the probe's weights started equal to these, and its steps moved them.
    assert any(not torch.equal(trained[k], v) for k, v in reference.state_dict().items())


def _student_t_errors(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions with unit variance whose errors are Student-t (5 dof): heavier tails than the Gaussian."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_t(5, size=(n, 2)) * np.array([0.5, 2.0])
    return np.zeros((n, 2)), np.ones((n, 2)), truth


def test_coverage_fit_brings_1_sigma_closer_to_nominal_than_the_nll_fit_on_heavy_tails():
    val_mean, val_var, val_truth = _student_t_errors(4000, seed=0)
    test_mean, test_var, test_truth = _student_t_errors(20000, seed=1)
    error = {}
    for method in ("nll", "coverage"):
        scale = fit_variance_scale(val_mean, val_var, val_truth, method)
        z = np.abs(test_truth - test_mean) / np.sqrt(test_var * scale)
        error[method] = np.array([np.mean(z <= k, axis=0) - (stats.norm.cdf(k) - stats.norm.cdf(-k)) for k in (1, 2)])
    # The mean squared z is inflated by the tails: the 1 sigma interval over-covers by about 5 points.
    assert np.all(error["nll"][0] > 0.045)
    assert np.all(np.abs(error["coverage"][0]) < 0.04) and np.all(np.abs(error["coverage"][1]) < 0.03)
    assert np.all(np.abs(error["coverage"]).sum(0) < np.abs(error["nll"]).sum(0))


def test_both_fits_agree_on_gaussian_errors_and_an_unknown_fit_is_refused():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(20000, 2)) * np.array([0.5, 2.0])
    mean, var = np.zeros_like(truth), np.ones_like(truth)
    np.testing.assert_allclose(fit_variance_scale(mean, var, truth, "coverage"), [0.25, 4.0], rtol=0.05)
    np.testing.assert_allclose(fit_variance_scale(mean, var, truth, "nll"), [0.25, 4.0], rtol=0.05)
    with pytest.raises(ValueError, match="method"):
        fit_variance_scale(mean, var, truth, "median")
    with pytest.raises(ConfigError, match="variance_scale_fit"):
        check_config({**CONFIG, "variance_scale_fit": "median"})


def test_training_fits_the_scale_the_config_names(linear_data):
    model_kwargs = {"channels": [4, 4], "kernel_size": 3, "mlp_hidden": [], "head_hidden": 8}
    scales = {}
    for method in ("nll", "coverage"):
        config = {**CONFIG, "batch_size": 32, "variance_scale_fit": method}
        result = train(linear_data, 30, config, model_kwargs, seed=0, max_epochs=1)
        val = prepare_split(linear_data, "val", 30, result.normalizer, config=config)
        mean, var = predict(result.model, val, raw=True)
        expected = fit_variance_scale(mean, var, val.target.numpy(), method)
        np.testing.assert_allclose(result.variance_scale, expected, rtol=1e-6)
        torch.testing.assert_close(result.model.variance_scale, torch.as_tensor(expected, dtype=torch.float32))
        scales[method] = result.variance_scale
    assert not np.allclose(scales["nll"], scales["coverage"])
