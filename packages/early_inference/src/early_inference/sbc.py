"""Simulation-based calibration (Talts et al. 2018) for Gaussian posteriors in target space.

For each test sample, the rank of the true parameter among ``n_draws`` posterior draws; for a calibrated
posterior the ranks are uniform on {0, ..., n_draws}. This is the check ``sbi.diagnostics.run_sbc`` /
``check_sbc`` make, done here without sbi so it runs for every posterior with a mean and a variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["sbc_ranks", "sbc_summary"]


def sbc_ranks(mean: np.ndarray, var: np.ndarray, truth: np.ndarray, n_draws: int = 99, seed: int = 0) -> np.ndarray:
    """(n, params) integer ranks of ``truth`` among ``n_draws`` draws of N(mean, var) per sample."""
    rng = np.random.default_rng(seed)
    mean, sd = np.asarray(mean, dtype=float), np.sqrt(np.asarray(var, dtype=float))
    draws = mean[None] + sd[None] * rng.standard_normal((n_draws, *mean.shape))
    return np.sum(draws < np.asarray(truth, dtype=float)[None], axis=0)


def sbc_summary(ranks: np.ndarray, n_draws: int, names: Sequence[str], bins: int = 10) -> dict[str, dict]:
    """Per parameter: rank histogram, chi-square uniformity p-value, and the KS statistic of rank / n_draws."""
    out = {}
    for j, name in enumerate(names):
        counts = np.histogram(ranks[:, j], bins=bins, range=(0, n_draws + 1))[0]
        expected = np.full(bins, len(ranks) / bins)
        out[name] = {
            "histogram": counts.tolist(),
            "chi2_p_value": float(stats.chisquare(counts, expected).pvalue),
            "ks_statistic": float(stats.kstest((ranks[:, j] + 0.5) / (n_draws + 1), "uniform").statistic),
            "mean_rank_fraction": float(np.mean(ranks[:, j]) / n_draws),  # 0.5 when unbiased
        }
    return out
