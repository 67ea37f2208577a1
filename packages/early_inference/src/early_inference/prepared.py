"""Network inputs for one split and prefix, and batched prediction with or without the variance scale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from early_inference import simulators
from early_inference.early_inference_model import EarlyInferenceModel, per_parameter_nll, time_channels
from early_inference.generate_early_inference_data import EarlyInferenceData

__all__ = ["PreparedSplit", "known_normalizer", "predict", "prepare_split", "validation_nlls"]


@dataclass
class PreparedSplit:
    """x (n, channels, T), known (n, k) z-scored, target (n, p) in z-units."""

    x: torch.Tensor
    known: torch.Tensor
    target: torch.Tensor


def known_normalizer(data: EarlyInferenceData) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the known inputs over the training split."""
    known = data.known["train"]
    return known.mean(axis=0), np.maximum(known.std(axis=0), 1e-12)


def prepare_split(
    data: EarlyInferenceData,
    split: str,
    prefix_length: float,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device | str = "cpu",
    config: Mapping[str, Any] | None = None,
) -> PreparedSplit:
    """The inputs ``config`` asks for (the seed's layout when None).

    ``config["known_as_channels"]``: x is the pH channel alone (the model adds the known inputs as
    constant channels); otherwise pH plus the two clock channels. ``config["prefix_points"]``: the
    prefix is averaged over equal bins down to that many points (fewer, less noisy steps).
    """
    config = config or {}
    sim = simulators.get(data.config["simulator"])
    obs = torch.as_tensor(sim.network_input(data.obs[split][prefix_length], data.known[split]), dtype=torch.float32)
    times = torch.as_tensor(data.times[prefix_length], dtype=torch.float32)
    points = config.get("prefix_points")
    if points and points < obs.shape[-1]:
        obs = F.adaptive_avg_pool1d(obs.unsqueeze(1), points).squeeze(1)
        times = F.adaptive_avg_pool1d(times.view(1, 1, -1), points).view(-1)
    if config.get("known_as_channels"):
        x = obs.unsqueeze(1).contiguous()
    else:
        clock = time_channels(times)
        x = torch.cat([obs.unsqueeze(1), clock.unsqueeze(0).expand(len(obs), -1, -1)], dim=1).contiguous()
    known = torch.as_tensor((data.known[split] - normalizer[0]) / normalizer[1], dtype=torch.float32)
    target = torch.as_tensor(sim.to_target(data.params[split]), dtype=torch.float32)
    return PreparedSplit(x.to(device), known.to(device), target.to(device))


@torch.inference_mode()
def predict(
    model: EarlyInferenceModel, split: PreparedSplit, batch_size: int = 2048, raw: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (target space) for a whole split, in eval mode.

    The variances include the model's stored ``variance_scale`` unless ``raw``.
    """
    model.eval()
    means, variances = [], []
    for start in range(0, len(split.x), batch_size):
        mean, var = model(split.x[start : start + batch_size], split.known[start : start + batch_size])
        means.append(mean)
        variances.append(var)
    mean = torch.cat(means).cpu().numpy().astype(float)
    var = torch.cat(variances).cpu().numpy().astype(float)
    if raw:
        var = var / model.variance_scale.cpu().numpy().astype(float)
    return mean, var


@torch.inference_mode()
def validation_nlls(model: EarlyInferenceModel, split: PreparedSplit) -> np.ndarray:
    """Plain Gaussian NLL per parameter (mean over samples) of the raw predictive."""
    mean, var = predict(model, split, raw=True)
    nll = per_parameter_nll(torch.as_tensor(mean), torch.as_tensor(var), split.target.cpu().double())
    return nll.mean(dim=0).numpy()
