"""Simulators with a prior over latent parameters: ``get("urea")`` and ``get("linear_gaussian")``.

Each simulator samples latent parameters and known inputs, produces a noise-free trajectory on any
time grid, and maps parameters to the z-scored "target space" the network predicts in.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from trainkit import ConfigError

__all__ = ["LinearGaussianSimulator", "Simulator", "UreaSimulator", "available", "get"]

# Qin & Cabral kinetics of urease-catalysed urea hydrolysis (published constants).
K0_MOL_PER_S_PER_G = 0.267
EA_J_PER_MOL = 29.1e3
R_GAS = 8.314
KM_M = 2.56e-3
KS_M = 6.18
PKES1, PKES2, ALPHA, BETA = 9.07, 5.62, 0.373, 0.564
KP_M = 0.05  # product inhibition constant, held fixed (the original interpolates a pH table)
# Acid-base constants at 25 C.
KW = 1e-14
KA_NH4 = 5.62e-10
KA1_CO2 = 4.45e-7
KA2_CO2 = 4.69e-11


class Simulator(ABC):
    """A prior over parameters and known inputs, a trajectory model and a target-space transform."""

    name: str
    param_names: tuple[str, ...]
    known_names: tuple[str, ...]
    noise_sd: float
    obs_center: float
    obs_scale: float
    # Target u = transform(params) is z-scored with these (prior mean and sd of u).
    target_center: np.ndarray
    target_scale: np.ndarray
    prior_sd: np.ndarray  # physical units, for RMSE / prior sd
    target_bounds: tuple[np.ndarray, np.ndarray]  # the prior's support in z (bounds for least-squares fits)

    @abstractmethod
    def sample_params(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    @abstractmethod
    def sample_known(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    @abstractmethod
    def simulate(self, params: np.ndarray, known: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Noise-free observation at ``times`` for one parameter vector and one known-input vector."""

    @abstractmethod
    def _to_u(self, params: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _from_u(self, u: np.ndarray) -> np.ndarray: ...

    def trajectory_fn(self, known: np.ndarray, times: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``params -> noise-free observation`` with per-sample work (tables) done once."""
        return lambda params: self.simulate(params, known, times)

    def network_input(self, obs: np.ndarray, known: np.ndarray) -> np.ndarray:
        """The observation channel the network sees: ``(obs - obs_center) / obs_scale``."""
        return (obs - self.obs_center) / self.obs_scale

    def to_target(self, params: np.ndarray) -> np.ndarray:
        return (self._to_u(params) - self.target_center) / self.target_scale

    def from_target(self, z: np.ndarray) -> np.ndarray:
        """Physical parameters for a target-space point (the median of a Gaussian in target space)."""
        return self._from_u(z * self.target_scale + self.target_center)


class UreaSimulator(Simulator):
    """pH(t) of urease-catalysed urea hydrolysis in unbuffered water, with enzyme deactivation.

    Urea -> 2 NH3 + CO2 at rate r = E0 e^(-k_d t) h(N), where N is total ammonia produced. Substrate,
    carbonate and pH (charge balance) are all functions of N, so the ODE separates:
    G(N) = int_0^N dN'/h(N') = E0 tau(t) with tau = (1 - e^(-k_d t)) / k_d. G is tabulated by quadrature
    on a geometric N grid, which makes one trajectory cost a few milliseconds and no ODE steps.
    """

    name = "urea"
    param_names = ("E0_g_per_L", "k_d_per_s")
    known_names = ("substrate_mM", "temperature_C", "initial_pH")
    noise_sd = 0.01
    # The network sees the pH rise above the known initial pH, pH(t) - pH0, scaled by these
    # (roughly its mean and sd over the prior): the trajectory starts at pH0 exactly, so subtracting
    # it removes a nuisance shift the TCN would otherwise have to undo without access to pH0.
    obs_center = 1.7
    obs_scale = 0.45
    e0_range = (0.05, 1.25)
    kd_range = (1e-5, 5e-3)
    known_ranges = ((10.0, 100.0), (25.0, 40.0), (6.5, 7.5))

    def __init__(self, n_grid: int = 3000) -> None:
        self.n_grid = n_grid
        # Exact moments of log E0 when E0 is uniform on [a, b] (antiderivatives of log x and log^2 x).
        a, b = self.e0_range
        mean_log = (b * math.log(b) - b - a * math.log(a) + a) / (b - a)

        def second(x: float) -> float:
            return x * (math.log(x) ** 2 - 2 * math.log(x) + 2)

        sd_log = math.sqrt((second(b) - second(a)) / (b - a) - mean_log**2)
        self.target_center = np.array([mean_log, np.mean(self.kd_range)])
        self.target_scale = np.array([sd_log, np.ptp(self.kd_range) / math.sqrt(12.0)])
        self.prior_sd = np.array([np.ptp(self.e0_range), np.ptp(self.kd_range)]) / math.sqrt(12.0)
        support = np.array([[math.log(a), math.log(b)], list(self.kd_range)])
        self.target_bounds = (
            (support[:, 0] - self.target_center) / self.target_scale,
            (support[:, 1] - self.target_center) / self.target_scale,
        )

    def sample_params(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.column_stack([rng.uniform(*self.e0_range, n), rng.uniform(*self.kd_range, n)])

    def network_input(self, obs: np.ndarray, known: np.ndarray) -> np.ndarray:
        """``(pH - pH0 - obs_center) / obs_scale``; pH0 is the known initial pH."""
        initial_pH = np.asarray(known)[:, self.known_names.index("initial_pH"), None]
        return (obs - initial_pH - self.obs_center) / self.obs_scale

    def sample_known(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.column_stack([rng.uniform(lo, hi, n) for lo, hi in self.known_ranges])

    def _to_u(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        return np.stack([np.log(params[..., 0]), params[..., 1]], axis=-1)

    def _from_u(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return np.stack([np.exp(u[..., 0]), u[..., 1]], axis=-1)

    @staticmethod
    def charge_imbalance(h_plus: np.ndarray, n_total: np.ndarray, strong_ion: float) -> np.ndarray:
        """Cations minus anions (M); increasing in [H+], zero at the solution's pH."""
        carbon = n_total / 2
        ammonium = n_total * h_plus / (h_plus + KA_NH4)
        denom = h_plus**2 + KA1_CO2 * h_plus + KA1_CO2 * KA2_CO2
        carbonate_charge = carbon * (KA1_CO2 * h_plus + 2 * KA1_CO2 * KA2_CO2) / denom
        return h_plus + ammonium + strong_ion - KW / h_plus - carbonate_charge

    @staticmethod
    def strong_ion(initial_pH: float) -> float:
        """Net strong cation (M) that makes the charge balance hold at the initial pH with N = 0."""
        h0 = 10.0**-initial_pH
        return KW / h0 - h0

    def ph_of_n(self, n_total: np.ndarray, initial_pH: float) -> np.ndarray:
        """pH for each total-ammonia value, by vectorised bisection on pH (f is monotone)."""
        strong = self.strong_ion(initial_pH)
        lo = np.full_like(n_total, initial_pH - 1e-6, dtype=float)
        hi = np.full_like(n_total, 12.5, dtype=float)
        for _ in range(40):  # (12.5 - 6.5) / 2**40 ~ 5e-12 pH
            mid = 0.5 * (lo + hi)
            too_acidic = self.charge_imbalance(10.0**-mid, n_total, strong) > 0
            lo = np.where(too_acidic, mid, lo)
            hi = np.where(too_acidic, hi, mid)
        return 0.5 * (lo + hi)

    def rate_per_enzyme(self, n_total: np.ndarray, ph: np.ndarray, substrate_M: float, temperature_C: float):
        """h(N) = r / (E0 e^(-k_d t)) in mol L^-1 s^-1 per (g/L)."""
        h_plus = 10.0**-ph
        arrhenius = K0_MOL_PER_S_PER_G * math.exp(-EA_J_PER_MOL / (R_GAS * (temperature_C + 273.15)))
        activity = 1.0 / (1.0 + (10.0**-PKES1 / h_plus) ** ALPHA + (h_plus / 10.0**-PKES2) ** BETA)
        urea = np.maximum(substrate_M - n_total / 2, 0.0)
        michaelis = urea / (KM_M + urea + urea**2 / KS_M)
        return arrhenius * activity * michaelis / (1.0 + n_total / KP_M)

    def progress_table(self, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log G, pH) on the N grid for one known-input vector."""
        substrate_M = known[0] * 1e-3
        n_grid = np.geomspace(1e-13, 2 * substrate_M * (1 - 1e-4), self.n_grid)
        ph = self.ph_of_n(n_grid, known[2])
        inv_rate = 1.0 / self.rate_per_enzyme(n_grid, ph, substrate_M, known[1])
        # Trapezoid from N = 0, where 1/h equals its value at the first grid point to 1e-13 relative.
        steps = np.diff(n_grid) * 0.5 * (inv_rate[1:] + inv_rate[:-1])
        g = np.concatenate([[n_grid[0] * inv_rate[0]], n_grid[0] * inv_rate[0] + np.cumsum(steps)])
        return np.log(g), ph

    def trajectory_fn(self, known: np.ndarray, times: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        known = np.asarray(known, dtype=float)
        times = np.asarray(times, dtype=float)
        log_g, ph = self.progress_table(known)

        def trajectory(params: np.ndarray) -> np.ndarray:
            e0, k_d = float(params[0]), float(params[1])
            tau = -np.expm1(-k_d * times) / k_d
            with np.errstate(divide="ignore"):
                log_progress = np.log(e0 * tau)
            # pH is close to linear in log G, so interpolating there is far more accurate than in G.
            return np.interp(log_progress, log_g, ph, left=float(known[2]))

        return trajectory

    def simulate(self, params: np.ndarray, known: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.trajectory_fn(known, times)(params)


class LinearGaussianSimulator(Simulator):
    """x(t) = theta1 (1 - e^(-t/20 s)) + theta2 t/300 s + noise, with a Gaussian prior.

    Its posterior is Gaussian and known in closed form (:meth:`posterior`), so the whole pipeline's
    calibration can be checked against the truth.
    """

    name = "linear_gaussian"
    param_names = ("theta1", "theta2")
    known_names = ()
    noise_sd = 0.05
    obs_center = 1.0
    obs_scale = 1.0
    prior_mean = np.array([1.0, 0.0])
    prior_std = np.array([0.5, 0.5])
    target_bounds = (np.full(2, -8.0), np.full(2, 8.0))

    def __init__(self) -> None:
        self.target_center = self.prior_mean.copy()
        self.target_scale = self.prior_std.copy()
        self.prior_sd = self.prior_std.copy()

    def sample_params(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.prior_mean + self.prior_std * rng.standard_normal((n, 2))

    def sample_known(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.zeros((n, 0))

    def _to_u(self, params: np.ndarray) -> np.ndarray:
        return np.asarray(params, dtype=float)

    def _from_u(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(u, dtype=float)

    @staticmethod
    def design(times: np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=float)
        return np.column_stack([-np.expm1(-times / 20.0), times / 300.0])

    def simulate(self, params: np.ndarray, known: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.design(times) @ np.asarray(params, dtype=float)

    def posterior(self, observations: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means (n, 2) and the shared covariance (2, 2) for rows of ``observations``."""
        phi = self.design(times)
        prior_precision = np.diag(1.0 / self.prior_std**2)
        cov = np.linalg.inv(prior_precision + phi.T @ phi / self.noise_sd**2)
        means = (prior_precision @ self.prior_mean + np.asarray(observations) @ phi / self.noise_sd**2) @ cov.T
        return means, cov


_REGISTRY: dict[str, type[Simulator]] = {"urea": UreaSimulator, "linear_gaussian": LinearGaussianSimulator}


def available() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Simulator:
    """A fresh simulator by name; an unknown name is a :class:`trainkit.ConfigError`."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown simulator {name!r}; choose one of {available()}")
    return _REGISTRY[name]()
