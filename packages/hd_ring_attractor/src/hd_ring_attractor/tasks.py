"""Path integration in darkness: a 100 ms cue, then angular velocity alone.

Angular velocity follows an Ornstein-Uhlenbeck process (stationary s.d. 90 deg/s, correlation time
200 ms); the heading starts at a random angle and stays still during the cue. A fraction
``slow_fraction`` of the trials instead turns at one constant, slow angular velocity (magnitude
log-uniform in ``slow_range_deg``, random sign): the OU process rarely turns slowly for long, so
without these trials nothing in the loss penalises a bump that sticks to the ring's imperfections
(issue 18 found trained networks at 0.4-0.6 x the commanded speed at 15 deg/s). Every split is drawn
from its own seeded ``torch.Generator``, so train, validation and test sets are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["PathIntegrationTask", "Trajectories", "make_splits"]


@dataclass
class Trajectories:
    """``angular_velocity`` (N, T) rad/s, ``heading`` (N, T) rad in [0, 2*pi), ``cue_angle`` (N,)."""

    angular_velocity: torch.Tensor
    heading: torch.Tensor
    cue_angle: torch.Tensor
    cue_steps: int

    def __len__(self) -> int:
        return self.angular_velocity.shape[0]

    def batch(self, index: torch.Tensor | slice) -> Trajectories:
        return Trajectories(self.angular_velocity[index], self.heading[index], self.cue_angle[index], self.cue_steps)

    def to(self, device: torch.device | str) -> Trajectories:
        return Trajectories(
            self.angular_velocity.to(device), self.heading.to(device), self.cue_angle.to(device), self.cue_steps
        )


@dataclass(frozen=True)
class PathIntegrationTask:
    """Trial timing and velocity statistics (times in ms)."""

    dt: float = 2.0
    cue_ms: float = 100.0
    dark_ms: float = 500.0
    velocity_sd_deg: float = 90.0
    velocity_tau_ms: float = 200.0
    slow_fraction: float = 0.0
    slow_range_deg: tuple[float, float] = (5.0, 90.0)

    def __post_init__(self) -> None:
        low, high = self.slow_range_deg
        if not 0 <= self.slow_fraction <= 1 or not 0 < low <= high:
            raise ValueError(f"need 0 <= slow_fraction <= 1 and 0 < low <= high, got {self.slow_fraction}, {low, high}")

    @property
    def cue_steps(self) -> int:
        return round(self.cue_ms / self.dt)

    @property
    def steps(self) -> int:
        return self.cue_steps + round(self.dark_ms / self.dt)

    def sample(self, n: int, seed: int) -> Trajectories:
        """``n`` seeded trials; the heading is still during the cue, then integrates the OU velocity."""
        generator = torch.Generator().manual_seed(seed)
        sd = math.radians(self.velocity_sd_deg)
        decay = math.exp(-self.dt / self.velocity_tau_ms)
        kick = sd * math.sqrt(1 - decay**2)
        dark = self.steps - self.cue_steps
        omega = torch.empty(n, dark)
        current = sd * torch.randn(n, generator=generator)
        for t in range(dark):
            omega[:, t] = current
            current = decay * current + kick * torch.randn(n, generator=generator)
        start = 2 * math.pi * torch.rand(n, generator=generator)
        if self.slow_fraction > 0:  # drawn after the OU trials, so those stay as without slow trials
            slow = torch.rand(n, generator=generator) < self.slow_fraction
            low, high = (math.log(math.radians(v)) for v in self.slow_range_deg)
            speed = torch.exp(low + (high - low) * torch.rand(n, generator=generator))
            sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
            omega = torch.where(slow[:, None], (sign * speed)[:, None].expand_as(omega), omega)
        omega = torch.cat([torch.zeros(n, self.cue_steps), omega], dim=1)
        heading = torch.remainder(start[:, None] + torch.cumsum(omega, dim=1) * self.dt / 1000.0, 2 * math.pi)
        return Trajectories(omega, heading, start, self.cue_steps)


def make_splits(
    task: PathIntegrationTask, n_train: int, n_val: int, n_test: int, seed: int = 0
) -> tuple[Trajectories, Trajectories, Trajectories]:
    """Train, validation and test sets, each from its own seed derived from ``seed``."""
    return (
        task.sample(n_train, seed=3 * seed + 1),
        task.sample(n_val, seed=3 * seed + 2),
        task.sample(n_test, seed=3 * seed + 3),
    )
