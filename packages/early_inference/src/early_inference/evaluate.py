"""Metrics for Gaussian parameter posteriors, and the baselines: prior-only, least squares, prefix MLP.

Calibration metrics (NLL, CRPS, coverage, PIT) are computed in target space (z-scored log E0 and
k_d), where the model's predictive is Gaussian. Point errors (RMSE, MAE) are in physical units, with
the target-space mean mapped back (the median of E0).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import optimize, stats
from torch import nn

from early_inference.early_inference_model import VARIANCE_EPS, gaussian_nll_loss
from early_inference.simulators import Simulator

__all__ = [
    "COVERAGE_SIGMAS",
    "SCALE_FITS",
    "GaussianPrediction",
    "PrefixMLP",
    "PrefixMLPResult",
    "calibration_curve",
    "crps_gaussian",
    "fit_variance_scale",
    "flat_prefix_inputs",
    "gaussian_metrics",
    "least_squares_fit",
    "mlp_on_prefix",
    "parameter_report",
    "prior_only",
]

COVERAGE_SIGMAS = (1, 2, 3)


@dataclass
class GaussianPrediction:
    """Means and variances in target space, shape (n, params), and the wall time it took per sample."""

    mean: np.ndarray
    var: np.ndarray
    seconds_per_sample: float | None = None


def crps_gaussian(y: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of N(mean, sd^2) at y (Gneiting & Raftery 2007)."""
    z = (y - mean) / sd
    return sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))


def gaussian_metrics(mean: np.ndarray, var: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """NLL, CRPS, coverage at 1/2/3 sigma, PIT KS statistic, mean sigma and z variance (1-D arrays)."""
    sd = np.sqrt(var)
    z = (truth - mean) / sd
    out = {
        "nll": float(np.mean(0.5 * (math.log(2 * math.pi) + np.log(var) + z**2))),
        "crps": float(np.mean(crps_gaussian(truth, mean, sd))),
        "pit_ks": float(stats.kstest(stats.norm.cdf(z), "uniform").statistic),
        "mean_sigma": float(np.mean(sd)),
        "z_var": float(np.var(z)),
    }
    for k in COVERAGE_SIGMAS:
        out[f"coverage_{k}sigma"] = float(np.mean(np.abs(z) <= k))
        out[f"nominal_{k}sigma"] = float(stats.norm.cdf(k) - stats.norm.cdf(-k))
    return out


SCALE_FITS = ("nll", "coverage")


def fit_variance_scale(mean: np.ndarray, var: np.ndarray, truth: np.ndarray, method: str = "nll") -> np.ndarray:
    """One variance multiplier per parameter ``s`` for N(mean, s * var), fitted on validation predictions.

    "nll": the maximum-likelihood ``s``, the mean squared z-score (temperature scaling for a Gaussian
    head; compare sbi#1862). Heavy-tailed errors inflate it, so the 1 sigma interval comes out too wide.
    "coverage": ``s`` whose 1 and 2 sigma intervals cover their nominal shares jointly: sqrt(s) is the
    geometric mean of q1 / 1 and q2 / 2, with q_k the empirical quantile of |z| at the k sigma level,
    each the exact fix for its own level. For Gaussian errors both give the same ``s``. Fit it on the
    validation split only and apply it unchanged to the test split. Arrays have shape (n, params).
    """
    z_squared = (np.asarray(truth) - np.asarray(mean)) ** 2 / np.asarray(var)
    if method == "nll":
        return np.mean(z_squared, axis=0)
    if method != "coverage":
        raise ValueError(f"method must be one of {SCALE_FITS}, got {method!r}")
    z = np.sqrt(z_squared)
    levels = [stats.norm.cdf(k) - stats.norm.cdf(-k) for k in COVERAGE_SIGMAS[:2]]
    ratios = [np.quantile(z, level, axis=0) / k for k, level in zip(COVERAGE_SIGMAS[:2], levels)]
    return ratios[0] * ratios[1]  # sqrt(s) = sqrt(ratio_1 * ratio_2), their geometric mean


def calibration_curve(mean: np.ndarray, var: np.ndarray, truth: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Observed fraction of truths inside each central ``level`` interval (perfect: equal to levels)."""
    z = np.abs(truth - mean) / np.sqrt(var)
    half_widths = stats.norm.ppf(0.5 + np.asarray(levels) / 2)
    return np.array([np.mean(z <= w) for w in half_widths])


def parameter_report(sim: Simulator, prediction: GaussianPrediction, params_true: np.ndarray) -> dict[str, Any]:
    """Per-parameter metrics: calibration in target space, errors in physical units."""
    truth_z = sim.to_target(params_true)
    point = sim.from_target(prediction.mean)
    report: dict[str, Any] = {}
    for j, name in enumerate(sim.param_names):
        error = point[:, j] - params_true[:, j]
        rmse = float(np.sqrt(np.mean(error**2)))
        report[name] = {
            "rmse": rmse,
            "rmse_over_prior_sd": rmse / float(sim.prior_sd[j]),
            "mae": float(np.mean(np.abs(error))),
            **gaussian_metrics(prediction.mean[:, j], prediction.var[:, j], truth_z[:, j]),
        }
    report["nll_mean"] = float(np.mean([report[name]["nll"] for name in sim.param_names]))
    report["seconds_per_sample"] = prediction.seconds_per_sample
    return report


def prior_only(sim: Simulator, n: int) -> GaussianPrediction:
    """The prior's mean and variance for every sample (target space is z-scored by the prior)."""
    p = len(sim.param_names)
    return GaussianPrediction(np.zeros((n, p)), np.ones((n, p)), 0.0)


def least_squares_fit(
    sim: Simulator,
    obs: np.ndarray,
    known: np.ndarray,
    times: np.ndarray,
    starts: Sequence[Sequence[float]] = ((-0.8, -0.8), (0.8, -0.8), (-0.8, 0.8), (0.8, 0.8)),
) -> GaussianPrediction:
    """Bounded least squares of the simulator on each prefix, best of several starts.

    The fit works in target space inside the prior's support. Its variance is the Gauss-Newton
    estimate sigma^2 (J^T J)^-1, capped at the prior variance (1 in z-units). The time per sample
    includes the simulator's per-sample table.
    """
    n, p = len(obs), len(sim.param_names)
    lower, upper = sim.target_bounds
    means, variances = np.zeros((n, p)), np.ones((n, p))
    started = time.perf_counter()
    for i in range(n):
        trajectory = sim.trajectory_fn(known[i], times)

        def residuals(z: np.ndarray, i: int = i, trajectory=trajectory) -> np.ndarray:
            return (trajectory(sim.from_target(z)) - obs[i]) / sim.noise_sd

        best = None
        for start in starts:
            fit = optimize.least_squares(residuals, np.asarray(start, dtype=float), bounds=(lower, upper))
            if best is None or fit.cost < best.cost:
                best = fit
        means[i] = best.x
        information = best.jac.T @ best.jac
        variances[i] = np.minimum(np.diag(np.linalg.pinv(information)), 1.0)
    elapsed = time.perf_counter() - started
    return GaussianPrediction(means, np.maximum(variances, 1e-12), elapsed / max(n, 1))


def flat_prefix_inputs(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """(n, T + k): the prepared pH channel of a (n, 3, T) network input, point by point, then the known inputs.

    The two clock channels are the same for every sample, so they carry nothing here.
    """
    return torch.cat([x[:, 0, :], known], dim=1)


class PrefixMLP(nn.Module):
    """Standardise, two ReLU layers, then a mean head and a variance head (softplus + eps)."""

    def __init__(self, input_mean: torch.Tensor, input_sd: torch.Tensor, n_params: int, hidden: int = 128) -> None:
        super().__init__()
        self.register_buffer("input_mean", input_mean)
        self.register_buffer("input_sd", input_sd)
        self.trunk = nn.Sequential(nn.Linear(len(input_mean), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mean_head = nn.Linear(hidden, n_params)
        self.var_head = nn.Linear(hidden, n_params)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk((inputs - self.input_mean) / self.input_sd)
        return self.mean_head(h), torch.nn.functional.softplus(self.var_head(h)) + VARIANCE_EPS


@dataclass
class PrefixMLPResult:
    prediction: GaussianPrediction  # on the test inputs, with inference seconds per sample
    train_seconds: float
    optimizer_steps: list[int]  # per network (one per parameter, or one shared)
    best_val_nll: list[float]  # per network


def _train_mlp(model, inputs, target, val_inputs, val_target, max_steps, batch_size, lr, shuffle) -> float:
    """Adam on the Gaussian NLL for exactly ``max_steps`` steps; keeps the epoch with the best val NLL."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, steps = math.inf, None, 0
    while steps < max_steps:
        model.train()
        order = torch.randperm(len(inputs), generator=shuffle)
        for start in range(0, len(order), batch_size):
            if steps >= max_steps:
                break
            batch = order[start : start + batch_size]
            loss = gaussian_nll_loss(*model(inputs[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        model.eval()
        with torch.inference_mode():
            val_nll = float(gaussian_nll_loss(*model(val_inputs), val_target))
        if val_nll < best:
            best, best_state = val_nll, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return best


def mlp_on_prefix(
    train_inputs: torch.Tensor,
    train_target: torch.Tensor,
    val_inputs: torch.Tensor,
    val_target: torch.Tensor,
    test_inputs: torch.Tensor,
    seed: int,
    max_steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    hidden: int = 128,
    per_parameter: bool = True,
) -> PrefixMLPResult:
    """Baseline: Gaussian MLPs on the flattened prefix (``flat_prefix_inputs``), no convolution, no pooling.

    By default one network per parameter; each gets ``max_steps`` Adam steps on the Gaussian NLL (the
    same step budget as the TCN arms) and keeps its epoch with the best validation NLL, as ``train`` does.
    """
    input_mean, input_sd = train_inputs.mean(0), train_inputs.std(0).clamp_min(1e-6)
    shuffle = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n_params = train_target.shape[1]
    groups = [slice(j, j + 1) for j in range(n_params)] if per_parameter else [slice(0, n_params)]
    models, best_vals = [], []
    started = time.perf_counter()
    for group in groups:
        model = PrefixMLP(input_mean, input_sd, group.stop - group.start, hidden)
        best_vals.append(
            _train_mlp(
                model,
                train_inputs,
                train_target[:, group],
                val_inputs,
                val_target[:, group],
                max_steps,
                batch_size,
                lr,
                shuffle,
            )
        )
        models.append(model)
    train_seconds = time.perf_counter() - started
    tic = time.perf_counter()
    with torch.inference_mode():
        outputs = [model(test_inputs) for model in models]
    seconds_per_sample = (time.perf_counter() - tic) / max(len(test_inputs), 1)
    mean = torch.cat([m for m, _ in outputs], dim=1).double().numpy()
    var = torch.cat([v for _, v in outputs], dim=1).double().numpy()
    prediction = GaussianPrediction(mean, var, seconds_per_sample)
    return PrefixMLPResult(prediction, train_seconds, [max_steps] * len(groups), best_vals)
