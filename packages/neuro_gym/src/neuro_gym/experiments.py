"""External check: the classic STDP competition of Song, Miller & Abbott (2000), Nature Neuroscience 3:919.

One conductance-based LIF neuron receives 1000 excitatory Poisson inputs at 15 Hz through plastic synapses
with additive, all-to-all pair-based STDP whose depression is slightly stronger than its potentiation
(A- / A+ = 1.05 with equal time constants). The synapses compete and end bimodal: most near 0 or near
w_max. Parameters follow Brian2's documented reproduction of that figure (examples/synapses/STDP.py).
The neuron is a single scalar, so it is simulated event by event in plain Python rather than in torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trainkit import ConfigError

__all__ = ["stdp_competition"]


def stdp_competition(
    seed: int,
    duration_s: float = 100.0,
    dt_ms: float = 0.1,
    num_inputs: int = 1000,
    rate_hz: float = 15.0,
) -> dict[str, Any]:
    """Run the experiment; return ``weights`` (final weights / w_max) and ``post_rate_hz`` (whole run)."""
    if duration_s <= 0 or dt_ms <= 0 or num_inputs < 1 or rate_hz <= 0:
        raise ConfigError("duration_s, dt_ms, num_inputs and rate_hz must be positive")
    tau_m, v_rest, e_exc, v_threshold, v_reset, tau_exc = 10.0, -74.0, 0.0, -54.0, -60.0, 5.0
    tau_pre = tau_post = 20.0
    w_max = 0.01
    a_pre = 0.01 * w_max
    a_post = -a_pre * tau_pre / tau_post * 1.05
    rng = np.random.default_rng(seed)
    weights = rng.random(num_inputs) * w_max
    steps = round(duration_s * 1000.0 / dt_ms)
    # Poisson inputs: each input spikes in a step with probability rate*dt; draw all spikes up front.
    counts = rng.binomial(num_inputs, rate_hz * dt_ms / 1000.0, size=steps)
    spiking_steps = np.flatnonzero(counts)
    inputs_at = np.split(rng.integers(0, num_inputs, size=int(counts.sum())), np.cumsum(counts[spiking_steps])[:-1])
    events = dict(zip(spiking_steps.tolist(), inputs_at))
    # Pre traces decay lazily: store each input's trace value and the time it was last updated.
    pre_trace = np.zeros(num_inputs)
    pre_time = np.zeros(num_inputs)
    post_trace, post_time = 0.0, 0.0
    v, g_exc = v_rest, 0.0
    decay_exc = math.exp(-dt_ms / tau_exc)
    post_spikes = 0
    for step in range(steps):
        now = step * dt_ms
        v += dt_ms * (g_exc * (e_exc - v) + v_rest - v) / tau_m
        g_exc *= decay_exc
        active = events.get(step)
        if active is not None:
            g_exc += float(weights[active].sum())
            pre_trace[active] = pre_trace[active] * np.exp(-(now - pre_time[active]) / tau_pre) + a_pre
            pre_time[active] = now
            depression = post_trace * math.exp(-(now - post_time) / tau_post)
            weights[active] = np.clip(weights[active] + depression, 0.0, w_max)
        if v > v_threshold:
            v = v_reset
            post_spikes += 1
            post_trace = post_trace * math.exp(-(now - post_time) / tau_post) + a_post
            post_time = now
            potentiation = pre_trace * np.exp(-(now - pre_time) / tau_pre)
            np.clip(weights + potentiation, 0.0, w_max, out=weights)
    return {"weights": weights / w_max, "post_rate_hz": post_spikes / duration_s, "seed": seed}
