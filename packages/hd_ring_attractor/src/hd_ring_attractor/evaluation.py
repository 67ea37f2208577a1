"""The training loss and the test-set report: errors, drift, persistence, bump shape, baselines."""

from __future__ import annotations

import math

import torch

from hd_ring_attractor.models import RingAttractorNetwork
from hd_ring_attractor.tasks import Trajectories
from hd_ring_attractor.utils import (
    bump_fwhm_deg,
    circular_difference,
    circular_error_deg,
    decode_heading,
    single_peak_ratio,
)

__all__ = [
    "SPEED_TEST_OMEGAS_DEG",
    "cue_only_error_deg",
    "evaluate",
    "path_integration_loss",
    "speed_ratios",
    "tracking_errors_deg",
]

# The noise of the drift test: fixed, so that every network is tested on the same draw.
DRIFT_NOISE_SEED = 2024
# The angular velocities for the speed/omega test (deg/s).
SPEED_TEST_OMEGAS_DEG = (5.0, 15.0, 45.0, 90.0, 360.0)


def path_integration_loss(rates: torch.Tensor, data: Trajectories) -> torch.Tensor:
    """mean(1 - cos(decoded - true heading)) over the steps after the cue: circular, smooth, ~err^2/2."""
    decoded = decode_heading(rates[:, data.cue_steps :])
    return (1 - torch.cos(decoded - data.heading[:, data.cue_steps :])).mean()


@torch.no_grad()
def tracking_errors_deg(model: RingAttractorNetwork, data: Trajectories, batch_size: int = 256) -> torch.Tensor:
    """Absolute circular errors (N, T_dark) in degrees, noise off."""
    was_training = model.training
    model.eval()
    errors = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(slice(start, start + batch_size))
        rates = model(batch.angular_velocity, batch.cue_angle, batch.cue_steps)
        errors.append(
            circular_error_deg(decode_heading(rates[:, batch.cue_steps :]), batch.heading[:, batch.cue_steps :])
        )
    model.train(was_training)
    return torch.cat(errors)


def cue_only_error_deg(data: Trajectories) -> dict[str, float]:
    """The trivial baseline that holds the cued heading: what a network without velocity input can do."""
    errors = circular_error_deg(data.cue_angle[:, None].expand_as(data.heading), data.heading)[:, data.cue_steps :]
    return {"mean_error_deg": float(errors.mean()), "end_error_deg": float(errors[:, -1].mean())}


@torch.no_grad()
def _still_trials(model: RingAttractorNetwork, data: Trajectories, dark_ms: float, noise: bool) -> torch.Tensor:
    """Rates for the test cues with zero angular velocity for ``dark_ms`` after the cue."""
    was_training = model.training
    model.train(noise)
    steps = data.cue_steps + round(dark_ms / model.dt)
    still = data.cue_angle.new_zeros(len(data), steps)
    # The same noise for every network evaluated (common random numbers): drifts of two networks differ
    # only by the networks, and evaluating leaves the caller's random stream untouched.
    with torch.random.fork_rng(devices=[data.cue_angle.device] if data.cue_angle.is_cuda else []):
        torch.manual_seed(DRIFT_NOISE_SEED)
        rates = model(still, data.cue_angle, data.cue_steps)
    model.train(was_training)
    return rates


@torch.no_grad()
def speed_ratios(
    model: RingAttractorNetwork,
    omegas_deg: tuple[float, ...] = SPEED_TEST_OMEGAS_DEG,
    duration_ms: float = 1000.0,
    n_cues: int = 8,
    cue_steps: int = 50,
) -> dict[str, float]:
    """Bump speed over commanded speed at constant angular velocities, noise off.

    Each omega runs from ``n_cues`` evenly spaced cues in both directions; the decoded heading is
    unwrapped step by step, so a full turn counts as 360 degrees. 1.0 is perfect path integration,
    0 a bump pinned in place.
    """
    was_training = model.training
    model.eval()
    steps = cue_steps + round(duration_ms / model.dt)
    cues = 2 * math.pi * torch.arange(n_cues, device=model.preferred.device) / n_cues
    signs = torch.cat([torch.ones(n_cues), -torch.ones(n_cues)]).to(cues.device)
    ratios = {}
    for omega_deg in omegas_deg:
        omega = torch.zeros(2 * n_cues, steps, device=cues.device)
        omega[:, cue_steps:] = math.radians(omega_deg) * signs[:, None]
        heading = decode_heading(model(omega, cues.repeat(2), cue_steps)[:, cue_steps - 1 :])
        travelled = circular_difference(heading[:, 1:], heading[:, :-1]).sum(-1)
        ratios[f"{omega_deg:g}"] = float((travelled * signs).mean() / math.radians(omega_deg * duration_ms / 1000))
    model.train(was_training)
    return ratios


@torch.no_grad()
def evaluate(model: RingAttractorNetwork, data: Trajectories, hold_ms: float = 1000.0) -> dict[str, float]:
    """Test-set report (degrees, noise off unless stated).

    - ``mean_error_deg`` / ``end_error_deg``: |error| after the cue, averaged / at the last step.
    - ``drift_deg_per_s``: mean |heading change| per second with zero velocity and the noise on;
      ``drift_noiseless_deg_per_s`` the same with the noise off (what the ring's heterogeneity alone does).
    - ``amplitude_retention``: peak rate after ``hold_ms`` in darkness over the peak at the cue's end.
    - ``fwhm_deg`` and ``single_peak_ratio``: bump shape at the end of the test trials.
    - ``g_av``: the learned velocity gain (1 is Zhang's ideal).
    """
    errors = tracking_errors_deg(model, data)
    model.eval()
    final = model(data.angular_velocity, data.cue_angle, data.cue_steps)[:, -1]
    held = _still_trials(model, data, hold_ms, noise=False)
    noisy = _still_trials(model, data, hold_ms, noise=True)
    after_cue = data.cue_steps - 1

    def drift(rates: torch.Tensor) -> float:
        moved = circular_difference(decode_heading(rates[:, -1]), decode_heading(rates[:, after_cue])).abs()
        return float(torch.rad2deg(moved).mean() / (hold_ms / 1000.0))

    peak_start = held[:, after_cue].amax(-1)
    retention = held[:, -1].amax(-1) / peak_start.clamp_min(1e-12)
    return {
        "mean_error_deg": float(errors.mean()),
        "end_error_deg": float(errors[:, -1].mean()),
        "drift_deg_per_s": drift(noisy),
        "drift_noiseless_deg_per_s": drift(held),
        "amplitude_retention": float(retention.mean()),
        "fwhm_deg": float(torch.nanmean(bump_fwhm_deg(final))),
        "single_peak_ratio": single_peak_ratio(final),
        "g_av": model.g_av.item(),
        "hold_ms": hold_ms,
    }
