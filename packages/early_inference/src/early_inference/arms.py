"""One bench arm for one seed: a model per prefix length, trained for the same optimizer steps, and its
predictions on the shared evaluation samples (the first ``n_eval`` test samples)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from early_inference import simulators
from early_inference.evaluate import GaussianPrediction, parameter_report
from early_inference.generate_early_inference_data import EarlyInferenceData
from early_inference.prepared import predict, prepare_split
from early_inference.train_early_inference import MODEL_PROFILES, train
from trainkit.harness import RunResult

__all__ = ["PrefixOutcome", "attention_centre", "run_arm", "served_coverage"]


@dataclass
class PrefixOutcome:
    """One arm, seed and prefix: predictions on the evaluation samples and how training went."""

    mean: np.ndarray
    var_raw: np.ndarray  # the network's own variance
    variance_scale: np.ndarray  # fitted on validation
    scale_applied: bool  # whether the arm's config applies it at inference
    history: list[dict[str, float]]
    seconds_per_sample: float
    train_seconds: float
    optimizer_steps: int
    # Coverage of the served predictive on the whole test split ("E0_g_per_L_coverage_1sigma", ...; "n"): the
    # shared n_eval samples decide the goals, these many more say how much of a miss is sampling noise.
    coverage_all_test: dict[str, float] = field(default_factory=dict)

    @property
    def raw(self) -> GaussianPrediction:
        return GaussianPrediction(self.mean, self.var_raw, self.seconds_per_sample)

    @property
    def rescaled(self) -> GaussianPrediction:
        return GaussianPrediction(self.mean, self.var_raw * self.variance_scale, self.seconds_per_sample)

    @property
    def own(self) -> GaussianPrediction:
        """What the arm's config serves at inference."""
        return self.rescaled if self.scale_applied else self.raw


def attention_centre(model: torch.nn.Module, x: torch.Tensor, known: torch.Tensor) -> list[float] | None:
    """Mean position (0 = first point, 1 = last) of each pooling head's weights over a batch."""
    with torch.no_grad():
        weights = model.attention(x, known)
    if weights is None:
        return None
    steps = torch.linspace(0.0, 1.0, weights.shape[-1], device=weights.device)
    return [float(v) for v in (weights * steps).sum(-1).mean(0)]


def served_coverage(model: torch.nn.Module, split, names) -> dict[str, float]:
    """1 and 2 sigma coverage of the predictive the model serves (its variance scale applied), per parameter."""
    mean, var = predict(model, split)
    z = np.abs(split.target.cpu().numpy() - mean) / np.sqrt(var)
    out = {f"{name}_coverage_{k}sigma": float(np.mean(z[:, j] <= k)) for j, name in enumerate(names) for k in (1, 2)}
    return {**out, "n": float(len(z))}


def _one_prefix(data, length, config, profile, steps, seed, device, n_eval, scratch) -> tuple[PrefixOutcome, dict]:
    result = train(
        data, length, config, MODEL_PROFILES[profile], seed=seed, max_steps=steps, run_dir=scratch, device=device
    )
    test = prepare_split(data, "test", length, result.normalizer, device, config)
    x, known = test.x[:n_eval], test.known[:n_eval]
    tic = time.perf_counter()
    with torch.inference_mode():
        result.model(x, known)
    seconds = (time.perf_counter() - tic) / n_eval
    head = type(test)(x, known, test.target[:n_eval])
    mean, var_raw = predict(result.model, head, raw=True)
    outcome = PrefixOutcome(
        mean=mean,
        var_raw=var_raw,
        variance_scale=np.asarray(result.variance_scale, dtype=float),
        scale_applied=bool(config["apply_variance_scale"]),
        history=result.history,
        seconds_per_sample=seconds,
        train_seconds=result.train_seconds,
        optimizer_steps=result.optimizer_steps,
        coverage_all_test=served_coverage(result.model, test, simulators.get(data.config["simulator"]).param_names),
    )
    details = {
        "attention_centre_by_head": attention_centre(result.model, x[:256], known[:256]),
        "samples_per_s": result.samples_per_s,
        "best_val_nll": result.best_val_nll,
        "stop_reason": result.stop_reason,
    }
    return outcome, details


def run_arm(
    data: EarlyInferenceData,
    config: Mapping[str, Any],
    profile: str,
    steps: Mapping[float, int],
    seed: int,
    device: torch.device,
    n_eval: int,
    store: dict[tuple[int, float], PrefixOutcome] | None = None,
) -> RunResult:
    """Train every prefix; quality = mean over prefixes of the test NLL of the arm's own predictive.

    The equal budget is the step count per prefix, so ``quality_at_budget`` equals ``quality``.
    ``store`` receives each prefix's :class:`PrefixOutcome` (for the extra comparisons and plots).
    """
    sim = simulators.get(data.config["simulator"])
    truth = data.params["test"][:n_eval]
    per_prefix: dict[str, Any] = {}
    work = {"optimizer_steps": 0, "samples": 0, "epochs": 0}
    with tempfile.TemporaryDirectory(prefix="early_inference_bench_") as scratch:
        for length in data.prefix_lengths:
            run_dir = Path(scratch) / f"L{length:g}"
            outcome, details = _one_prefix(data, length, config, profile, steps[length], seed, device, n_eval, run_dir)
            if store is not None:
                store[(seed, length)] = outcome
            report = parameter_report(sim, outcome.own, truth)
            per_prefix[f"{length:g}"] = {
                "test_nll": report["nll_mean"],
                **{f"{name}_rmse_over_prior_sd": report[name]["rmse_over_prior_sd"] for name in sim.param_names},
                "variance_scale_from_val": outcome.variance_scale.tolist(),
                **details,
            }
            work["optimizer_steps"] += outcome.optimizer_steps
            work["samples"] += int(outcome.history[-1]["samples_seen"]) if outcome.history else 0
            work["epochs"] += len(outcome.history)
    quality = float(np.mean([cell["test_nll"] for cell in per_prefix.values()]))
    return RunResult(seed=seed, quality=quality, quality_at_budget=quality, work=work, extra={"per_prefix": per_prefix})
