"""Neuron and plasticity models: LIF with an adaptive threshold, trace STDP with soft bounds, and the
slow schedules around it (threshold homeostasis, learning-rate decay, importance-weighted consolidation).

Time is discrete (dt = 1 ms) and voltages are normalised: rest 0, base threshold 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trainkit import ConfigError

__all__ = [
    "OPTIMIZED_SCHEDULE",
    "ORIGINAL_SCHEDULE",
    "LIFParams",
    "PlasticitySchedule",
    "STDPParams",
    "SynapsePlasticity",
    "ThresholdHomeostasis",
    "lif_step",
    "stdp_drive",
]


@dataclass(frozen=True)
class LIFParams:
    """Leaky integrate-and-fire with a spike-triggered adaptive threshold (reset to 0 after a spike)."""

    tau_m: float = 10.0
    tau_theta: float = 50.0
    theta_increment: float = 0.05

    @property
    def beta_m(self) -> float:
        return math.exp(-1.0 / self.tau_m)

    @property
    def beta_theta(self) -> float:
        return math.exp(-1.0 / self.tau_theta)


def lif_step(
    v: torch.Tensor,
    theta: torch.Tensor,
    current: torch.Tensor,
    threshold: torch.Tensor | float,
    params: LIFParams,
    winner_take_all: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Euler step for a (batch, neurons) layer; returns (v, theta, spikes, v before reset).

    With ``winner_take_all`` lateral inhibition lets only the neuron furthest above threshold fire and
    resets the whole layer of that sample when it does, so a loser does not carry its charge into the
    next step.
    """
    v = params.beta_m * v + current
    above = v - threshold - theta
    spikes = (above >= 0).to(v.dtype)
    if winner_take_all:
        winner = torch.nn.functional.one_hot(above.argmax(dim=1), v.shape[1]).to(v.dtype)
        spikes = spikes * winner
        reset = 1.0 - spikes.amax(dim=1, keepdim=True)
    else:
        reset = 1.0 - spikes
    theta = params.beta_theta * theta + params.theta_increment * spikes
    return v * reset, theta, spikes, v


@dataclass(frozen=True)
class PlasticitySchedule:
    """How often the slow processes run, counted in plasticity updates (one per simulated step)."""

    homeostasis_every: int
    lr_decay_every: int
    history_window: int
    consolidate_every: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if int(value) < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")


ORIGINAL_SCHEDULE = PlasticitySchedule(
    homeostasis_every=1, lr_decay_every=100, history_window=1000, consolidate_every=1
)
OPTIMIZED_SCHEDULE = PlasticitySchedule(
    homeostasis_every=500, lr_decay_every=200, history_window=500, consolidate_every=100
)


@dataclass(frozen=True)
class STDPParams:
    """Pair-based STDP: potentiation ``a_plus`` at post spikes (pre trace), depression ``a_minus`` at pre
    spikes (post trace); soft bounds scale potentiation by (w_max - w) and depression by (w - w_min)."""

    a_plus: float = 0.05
    a_minus: float = 0.0025
    tau_plus: float = 2.0
    tau_minus: float = 2.0
    w_min: float = 0.0
    w_max: float = 1.0
    lr_half_life: float = 300.0
    lr_floor: float = 0.1
    importance_strength: float = 1.0

    @property
    def beta_plus(self) -> float:
        return math.exp(-1.0 / self.tau_plus)

    @property
    def beta_minus(self) -> float:
        return math.exp(-1.0 / self.tau_minus)


def stdp_drive(
    pre_trace: torch.Tensor,
    pre_spikes: torch.Tensor,
    post_trace: torch.Tensor,
    post_spikes: torch.Tensor,
    desired: torch.Tensor,
    params: STDPParams,
) -> torch.Tensor:
    """Pair-based trace STDP in the supervised ReSuMe form, summed over the batch, shape (post, pre).

    Pre-before-post pairs (the pre trace read at a post event) potentiate for every desired (teacher)
    spike and depress for every actual output spike, so learning stops once the output fires as the
    teacher wants; post-before-pre pairs (the post trace read at a pre spike) depress by ``a_minus``.
    Ponulak & Kasinski (2010), Neural Computation 22(2).
    """
    potentiation = (desired - post_spikes).T @ pre_trace
    depression = post_trace.T @ pre_spikes
    return params.a_plus * potentiation - params.a_minus * depression


class SynapsePlasticity:
    """Applies STDP to one weight matrix with learning-rate decay and importance-weighted consolidation.

    Every ``lr_decay_every`` updates the rate becomes ``0.5 ** (updates / lr_half_life)`` (floored).
    Every ``consolidate_every`` updates each synapse's importance grows by how far it moved since the
    last anchor, the anchor moves to the current weights, and later changes are divided by
    ``1 + importance_strength * importance`` (synapses that already moved a lot become stable).
    """

    def __init__(self, weights: torch.Tensor, params: STDPParams, schedule: PlasticitySchedule) -> None:
        self.params = params
        self.schedule = schedule
        self.updates = 0
        self.lr_factor = 1.0
        self.anchor = weights.detach().clone()
        self.importance = torch.zeros_like(weights)
        # lr_factor / (1 + importance_strength * importance), refreshed only when either changes.
        self.scale = torch.empty_like(weights)
        self._positive, self._low, self._high = (torch.empty_like(weights) for _ in range(3))
        # The bounds as 0-dim tensors: a Python scalar operand costs three extra operations (a conversion).
        self._zero, self._w_min, self._w_max = (weights.new_tensor(x) for x in (0.0, params.w_min, params.w_max))
        self._refresh_scale()

    def _refresh_scale(self) -> None:
        torch.mul(self.importance, self.params.importance_strength, out=self.scale).add_(1.0)
        self.scale.reciprocal_().mul_(self.lr_factor)

    def apply(self, weights: torch.Tensor, drive: torch.Tensor) -> None:
        """Change ``weights`` in place by ``drive`` under soft bounds, then advance the schedules."""
        p = self.params
        # Soft bound: potentiation scales with (w_max - w), depression with (w - w_min). lerp with a 0/1
        # mask selects exactly and avoids boolean tensors, which are slow on CPU.
        torch.gt(drive, self._zero, out=self._positive)
        torch.sub(weights, self._w_min, out=self._low)
        torch.sub(self._w_max, weights, out=self._high)
        bound = torch.lerp(self._low, self._high, self._positive, out=self._high)
        weights.addcmul_(bound.mul_(drive), self.scale).clamp_(p.w_min, p.w_max)
        self.updates += 1
        refresh = False
        if self.updates % self.schedule.lr_decay_every == 0:
            self.lr_factor = max(0.5 ** (self.updates / p.lr_half_life), p.lr_floor)
            refresh = True
        if self.updates % self.schedule.consolidate_every == 0:
            self.importance.add_(torch.sub(weights, self.anchor, out=self._low).abs_())
            self.anchor.copy_(weights)
            refresh = True
        if refresh:
            self._refresh_scale()

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "lr_factor": self.lr_factor,
            "anchor": self.anchor.clone(),
            "importance": self.importance.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.lr_factor = float(state["lr_factor"])
        self.anchor.copy_(state["anchor"])
        self.importance.copy_(state["importance"])
        self._refresh_scale()


class ThresholdHomeostasis:
    """Slow per-neuron threshold scaling toward a target firing rate.

    Each training step records the layer's mean rate in a ring buffer of ``history_window`` steps;
    every ``homeostasis_every`` steps the threshold scale of a neuron firing above ``target_rate`` over
    that window grows by ``step`` (x1.02) and that of a quieter neuron shrinks (x0.98), within ``bounds``.
    """

    def __init__(
        self,
        num_neurons: int,
        target_rate: float,
        schedule: PlasticitySchedule,
        step: float = 0.02,
        bounds: tuple[float, float] = (0.5, 2.0),
        device: torch.device | str = "cpu",
    ) -> None:
        self.target_rate = target_rate
        self.schedule = schedule
        self.step = step
        self.bounds = bounds
        self.scale = torch.ones(num_neurons, device=device)
        self.history = torch.zeros(schedule.history_window, num_neurons, device=device)
        # A running sum over the window keeps a homeostasis update O(neurons), however often it runs.
        self.window_sum = torch.zeros(num_neurons, device=device)
        self.factors = torch.tensor([1.0 - step, 1.0 + step], device=device)
        self.recorded = 0

    def record(self, rates: torch.Tensor) -> None:
        """Store one step's per-neuron firing rate and rescale thresholds when due."""
        self.record_many(rates[None])

    def record_many(self, rates: torch.Tensor) -> None:
        """Store consecutive steps' rates (steps, neurons) at once; rescale wherever a step is due."""
        window, every = self.schedule.history_window, self.schedule.homeostasis_every
        if rates.shape[0] > window:  # a slot would be written twice; never at this package's sizes
            for row in rates:
                self.record_many(row[None])
            return
        first, count = self.recorded, rates.shape[0]
        slots = [(first + k) % window for k in range(count)]
        sums = self._window_sums(rates, slots)
        self.recorded += count
        due = [k for k in range(count) if (first + k + 1) % every == 0]
        if not due:
            return
        seen = torch.tensor([min(first + k + 1, window) for k in due], dtype=sums.dtype, device=sums.device)
        above = (sums[torch.tensor(due, device=sums.device)] / seen[:, None] > self.target_rate).long()
        factors = self.factors[above]  # 1 + step above the target rate, 1 - step below
        for factor in factors:  # clamped after each update, as if recorded one step at a time
            self.scale.mul_(factor).clamp_(*self.bounds)

    def _window_sums(self, rates: torch.Tensor, slots: list[int]) -> torch.Tensor:
        """Write ``rates`` into the ring buffer at ``slots`` and return the window sum after each of them:
        the running sum plus the cumulated (new - evicted) rates, added left to right in float32.

        Not torch.cumsum: it accumulates float32 in float64 on CPU, which rounds differently from adding one
        step at a time, and a firing rate exactly at the homeostasis target then lands on the other side of
        it. On the CPU numpy does it (its accumulate adds in float32, one row after the other) at a fraction
        of the cost of the dozen small torch operations; elsewhere a loop of in-place additions."""
        if self.history.device.type != "cpu":
            index = torch.tensor(slots, device=self.history.device)
            rows = torch.cat([self.window_sum[None], rates - self.history[index]])
            for k in range(1, rows.shape[0]):
                rows[k] += rows[k - 1]
            self.history[index] = rates
            self.window_sum.copy_(rows[-1])
            return rows[1:]
        history, new = self.history.numpy(), rates.detach().contiguous().numpy()
        rows = np.empty((len(slots) + 1, new.shape[1]), dtype=history.dtype)
        rows[0] = self.window_sum.numpy()
        np.subtract(new, history[slots], out=rows[1:])
        np.add.accumulate(rows, axis=0, dtype=rows.dtype, out=rows)
        history[slots] = new
        self.window_sum.numpy()[:] = rows[-1]
        return torch.from_numpy(rows[1:])

    def state_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale.clone(),
            "history": self.history.clone(),
            "window_sum": self.window_sum.clone(),
            "recorded": self.recorded,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["history"].shape != self.history.shape:
            raise ConfigError(
                f"checkpoint homeostasis window {tuple(state['history'].shape)} "
                f"differs from {tuple(self.history.shape)}"
            )
        self.scale.copy_(state["scale"])
        self.history.copy_(state["history"])
        self.window_sum.copy_(state["window_sum"])
        self.recorded = int(state["recorded"])
