"""The non-TCN methods on the bench's evaluation samples: least squares, prior-only, the prefix MLP and sbi NPE.

All of them see the same first ``n_eval`` test samples (same noise) as the TCN arms. The MLP and NPE see
the inputs the optimized arm sees (the prepared, possibly averaged, pH prefix plus the known inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from early_inference import simulators
from early_inference.evaluate import (
    GaussianPrediction,
    PrefixMLPResult,
    flat_prefix_inputs,
    least_squares_fit,
    mlp_on_prefix,
    prior_only,
)
from early_inference.generate_early_inference_data import EarlyInferenceData
from early_inference.peers import INSTALL_HINT, NPEResult, npe_available, train_npe
from early_inference.prepared import known_normalizer, prepare_split

__all__ = ["PeerRuns", "run_peers", "sample_coverage"]


@dataclass
class PeerRuns:
    """Per prefix length: the fit, the prior, the MLP per seed, and NPE (or why it is absent)."""

    least_squares: dict[float, GaussianPrediction] = field(default_factory=dict)
    prior: dict[float, GaussianPrediction] = field(default_factory=dict)
    mlp: dict[float, dict[int, PrefixMLPResult]] = field(default_factory=dict)
    npe: dict[float, NPEResult | str] = field(default_factory=dict)


def sample_coverage(samples: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per parameter: fraction of truths inside the central interval of the draws with k-sigma mass."""
    mass = stats.norm.cdf(k) - stats.norm.cdf(-k)
    low, high = np.quantile(samples, [(1 - mass) / 2, (1 + mass) / 2], axis=0)
    return np.mean((truth >= low) & (truth <= high), axis=0)


def _flat(data: EarlyInferenceData, split: str, length: float, config: Mapping[str, Any], rows=None):
    prepared = prepare_split(data, split, length, known_normalizer(data), "cpu", config)
    inputs = flat_prefix_inputs(prepared.x, prepared.known)
    if rows is not None:
        return inputs[rows], prepared.target[rows]
    return inputs, prepared.target


def run_peers(
    data: EarlyInferenceData,
    config: Mapping[str, Any],
    steps: Mapping[float, int],
    seeds: Sequence[int],
    n_eval: int,
    npe_max_epochs: int | None = None,
    npe_samples: int = 500,
) -> PeerRuns:
    """Every peer on every prefix; NPE once (seed 0) per prefix, when sbi is installed."""
    sim = simulators.get(data.config["simulator"])
    runs = PeerRuns()
    head = slice(0, n_eval)
    for length in data.prefix_lengths:
        runs.least_squares[length] = least_squares_fit(
            sim, data.obs["test"][length][head], data.known["test"][head], data.times[length]
        )
        runs.prior[length] = prior_only(sim, n_eval)
        train_in, train_y = _flat(data, "train", length, config)
        val_in, val_y = _flat(data, "val", length, config)
        test_in, _ = _flat(data, "test", length, config, head)
        runs.mlp[length] = {
            seed: mlp_on_prefix(
                train_in, train_y, val_in, val_y, test_in, seed=seed, max_steps=steps[length], batch_size=256
            )
            for seed in seeds
        }
        if not npe_available():
            runs.npe[length] = INSTALL_HINT
            continue
        runs.npe[length] = train_npe(
            np.concatenate([train_in.numpy(), val_in.numpy()]),
            np.concatenate([train_y.numpy(), val_y.numpy()]),
            test_in.numpy(),
            sim.target_bounds,
            seed=0,
            n_samples=npe_samples,
            **({"max_epochs": npe_max_epochs} if npe_max_epochs else {}),
        )
    return runs
