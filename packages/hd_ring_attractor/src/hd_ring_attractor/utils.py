"""Encoding, decoding and bump measurements, all batched (no Python loop over samples)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.signal import find_peaks

__all__ = [
    "angle_to_input",
    "bump_fwhm_deg",
    "circular_difference",
    "circular_error_deg",
    "decode_heading",
    "single_peak_ratio",
]


def _preferred(n: int, device: torch.device | None = None) -> torch.Tensor:
    return 2 * math.pi * torch.arange(n, device=device) / n


def circular_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a - b`` wrapped into [-pi, pi)."""
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def angle_to_input(angle: torch.Tensor, n: int, strength: float = 1.0, width: float = 0.3) -> torch.Tensor:
    """Gaussian bumps of ``strength`` centred on ``angle`` (any shape) over ``n`` neurons -> (..., n)."""
    diff = circular_difference(_preferred(n, angle.device), angle[..., None])
    return strength * torch.exp(-(diff**2) / (2 * width**2))


def decode_heading(r_e: torch.Tensor) -> torch.Tensor:
    """Population-vector heading of rates (..., n) -> (...) in [0, 2*pi)."""
    theta = _preferred(r_e.shape[-1], r_e.device)
    x = (r_e * torch.cos(theta)).sum(-1)
    y = (r_e * torch.sin(theta)).sum(-1)
    # The tiny offset keeps atan2's gradient finite when the network is silent.
    return torch.remainder(torch.atan2(y, x + 1e-12), 2 * math.pi)


def circular_error_deg(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Absolute circular error in degrees, elementwise."""
    return torch.rad2deg(circular_difference(predicted, target).abs())


def _centred_profiles(r_e: torch.Tensor) -> np.ndarray:
    """Rotate each (B, n) profile so that its peak sits at index n // 2."""
    rates = r_e.detach().cpu().numpy()
    n = rates.shape[-1]
    shifts = n // 2 - rates.argmax(axis=-1)
    index = (np.arange(n)[None, :] - shifts[:, None]) % n
    return np.take_along_axis(rates, index, axis=-1)


def bump_fwhm_deg(r_e: torch.Tensor) -> torch.Tensor:
    """Full width at half maximum of each bump (B, n) in degrees (NaN for a silent network)."""
    profiles = _centred_profiles(r_e)
    n = profiles.shape[-1]
    peak = profiles.max(axis=-1, keepdims=True)
    above = profiles >= 0.5 * peak
    widths = above.sum(axis=-1) * 360.0 / n
    widths = np.where(peak[:, 0] > 1e-6, widths, np.nan)
    return torch.as_tensor(widths, dtype=torch.float32)


def single_peak_ratio(r_e: torch.Tensor, min_separation_deg: float = 30.0) -> float:
    """Fraction of profiles (B, n) with exactly one peak of height >= half the maximum.

    Peaks are found with ``scipy.signal.find_peaks`` on the profile rotated so that its maximum sits
    in the middle, so a bump that straddles the wrap-around point is not counted twice.
    """
    profiles = _centred_profiles(r_e)
    n = profiles.shape[-1]
    distance = max(1, round(min_separation_deg / 360.0 * n))
    single = 0
    for profile in profiles:
        if profile.max() <= 1e-6:
            continue
        padded = np.concatenate([[profile[-1]], profile, [profile[0]]])
        peaks, _ = find_peaks(padded, height=0.5 * profile.max(), distance=distance, prominence=0.1 * profile.max())
        single += len(peaks) == 1
    return single / len(profiles)
