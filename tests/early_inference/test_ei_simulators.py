"""Simulators: the fast urea solver against LSODA, the analytic linear-Gaussian posterior, the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from early_inference import simulators
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from trainkit import ConfigError


def lsoda_ph(sim: simulators.UreaSimulator, params, known, times) -> np.ndarray:
    """The textbook route: integrate dN/dt with LSODA, solving the charge balance with brentq inside the RHS."""
    e0, k_d = params
    substrate_M, temperature_C, initial_pH = known[0] * 1e-3, known[1], known[2]
    strong = sim.strong_ion(initial_pH)

    def ph(n_total: float) -> float:
        return brentq(lambda p: sim.charge_imbalance(10.0**-p, n_total, strong), initial_pH - 1e-6, 12.5, xtol=1e-13)

    def rhs(t, y):
        n_total = max(y[0], 0.0)
        rate = sim.rate_per_enzyme(np.array(n_total), np.array(ph(n_total)), substrate_M, temperature_C)
        return [e0 * math.exp(-k_d * t) * float(rate)]

    sol = solve_ivp(rhs, (0, times[-1]), [0.0], method="LSODA", t_eval=times, rtol=1e-10, atol=1e-16)
    assert sol.success
    return np.array([ph(n) for n in sol.y[0]])


@pytest.mark.parametrize(
    ("params", "known"),
    [
        ((0.05, 1e-5), (10.0, 25.0, 6.5)),
        ((1.25, 5e-3), (100.0, 40.0, 7.5)),
        ((0.5, 1e-3), (20.0, 40.0, 7.0)),
        ((1.25, 1e-5), (10.0, 40.0, 6.5)),
    ],
)
def test_urea_quadrature_matches_lsoda_to_1e_5_ph(params, known):
    sim = simulators.get("urea")
    times = np.linspace(0.0, 300.0, 101)
    fast = sim.simulate(np.array(params), np.array(known), times)
    reference = lsoda_ph(sim, params, known, times)
    assert np.max(np.abs(fast - reference)) <= 1e-5
    assert fast[0] == pytest.approx(known[2], abs=1e-9)
    assert np.all(np.diff(fast) > 0), "pH must rise as ammonia accumulates"
    assert fast[-1] > known[2] + 1.0


def test_urea_k_d_only_matters_late():
    sim = simulators.get("urea")
    known = np.array([50.0, 30.0, 7.0])
    times = np.linspace(0.0, 300.0, 101)
    slow = sim.simulate(np.array([0.5, 1e-5]), known, times)
    fast_decay = sim.simulate(np.array([0.5, 5e-3]), known, times)
    gap = np.abs(slow - fast_decay)
    assert gap[times <= 10].max() < 0.02 < gap[-1]


def test_linear_gaussian_posterior_matches_the_woodbury_form():
    sim = simulators.get("linear_gaussian")
    times = np.linspace(0.0, 60.0, 100)
    rng = np.random.default_rng(0)
    params = sim.sample_params(rng, 3)
    obs = np.stack([sim.simulate(p, np.zeros(0), times) for p in params]) + sim.noise_sd * rng.standard_normal((3, 100))
    means, cov = sim.posterior(obs, times)
    phi = sim.design(times)
    prior_cov = np.diag(sim.prior_std**2)
    gain = prior_cov @ phi.T @ np.linalg.inv(phi @ prior_cov @ phi.T + sim.noise_sd**2 * np.eye(100))
    np.testing.assert_allclose(cov, prior_cov - gain @ phi @ prior_cov, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(means, (sim.prior_mean + (obs - phi @ sim.prior_mean) @ gain.T), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["urea", "linear_gaussian"])
def test_target_space_round_trip_and_prior_is_standardised(name):
    sim = simulators.get(name)
    params = sim.sample_params(np.random.default_rng(1), 20000)
    z = sim.to_target(params)
    np.testing.assert_allclose(sim.from_target(z), params, rtol=1e-10)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.03)
    assert np.all((z >= sim.target_bounds[0]) & (z <= sim.target_bounds[1]))


def test_unknown_simulator_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown simulator"):
        simulators.get("lotka_volterra")
