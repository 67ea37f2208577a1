"""Simulation speed at the design's size against the FFT formulation's FLOP bound.

Times are CPU seconds of this process (``time.process_time``), which a shared machine's load inflates
far less than wall time; with one torch thread they are the step's own compute.

The bound counts the two dense products (``r_i W_IE`` and ``r_e W_EI``: 2 B N_E N_I FLOPs each) and the
FFTs (one real forward transform of ``r_e``, the spectral products, two inverse transforms for ``K r_e``
and ``K' r_e``: 2.5 N log2 N FLOPs per real transform, 6 per complex product), each at the GFLOP/s this
machine reaches on exactly those shapes. Elementwise work (about 20 operations per neuron) is left out,
so the bound is a floor no implementation of this formulation can beat.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from hd_ring_attractor.models import RingAttractorNetwork
from hd_ring_attractor.tasks import PathIntegrationTask

__all__ = ["flop_bound", "measure_simulation_speed"]

SPEED_SIZE = (800, 200, 32)  # n_exc, n_inh, batch: the design's network, as issue 18 asks


def _cpu_ms(work: Callable[[], Any], repeats: int) -> float:
    """Median CPU milliseconds of ``work()`` over ``repeats`` calls after one untimed call."""
    work()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(1000.0 * (time.process_time() - started))
    return statistics.median(times)


def flop_bound(n_exc: int, n_inh: int, batch: int, repeats: int = 200) -> dict[str, float]:
    """FLOPs per step and the ms they take at the measured GFLOP/s of the same-shaped kernels."""
    r_e, r_i = torch.rand(batch, n_exc), torch.rand(batch, n_inh)
    w_ei, w_ie = torch.rand(n_exc, n_inh), torch.rand(n_inh, n_exc)
    spectra = torch.fft.rfft(torch.rand(2, n_exc))[:, None, :]
    matmul_flops = 2 * (2 * batch * n_exc * n_inh)
    transform = 2.5 * n_exc * math.log2(n_exc)
    fft_flops = 3 * batch * transform + 2 * batch * (n_exc // 2 + 1) * 6

    def matmuls() -> None:
        for _ in range(repeats):
            r_i @ w_ie
            r_e @ w_ei

    def ffts() -> None:
        for _ in range(repeats):
            torch.fft.irfft(torch.fft.rfft(r_e)[None] * spectra, n=n_exc)

    matmul_ms = _cpu_ms(matmuls, 3) / repeats
    fft_ms = _cpu_ms(ffts, 3) / repeats
    return {
        "matmul_mflop_per_step": matmul_flops / 1e6,
        "fft_mflop_per_step": fft_flops / 1e6,
        "matmul_gflops_measured": matmul_flops / matmul_ms / 1e6,
        "fft_gflops_measured": fft_flops / fft_ms / 1e6,
        "bound_ms_per_step": matmul_ms + fft_ms,
    }


def _step_ms(model: RingAttractorNetwork, steps: int, repeats: int, backward: bool = False) -> float:
    data = PathIntegrationTask().sample(SPEED_SIZE[2], seed=12345)
    omega, cue = data.angular_velocity[:, :steps], data.cue_angle

    def simulate() -> None:
        if backward:
            model(omega, cue, cue_steps=min(50, steps)).square().mean().backward()
        else:
            with torch.no_grad():
                model(omega, cue, cue_steps=min(50, steps))

    return _cpu_ms(simulate, repeats) / steps


def measure_simulation_speed(slow_steps: int = 3, fast_steps: int = 100, repeats: int = 3) -> dict[str, Any]:
    """ms per step at 800/200 neurons, batch 32, for the original-style and batched engines.

    The original style rebuilds the kernel every step, loops over the batch in Python and draws the
    noise with ``torch.poisson`` element by element, like the original project. The batched engine is
    timed without noise, with the exact Poisson draw (the default, :func:`models.poisson_counts`) and
    with the Gaussian draw, and forward + backward for a training step with the default draw.
    """
    n_exc, n_inh, batch = SPEED_SIZE
    bound = flop_bound(n_exc, n_inh, batch)

    def network(**settings: Any) -> RingAttractorNetwork:
        return RingAttractorNetwork(n_exc, n_inh, g_av=1.0, **settings)

    original = _step_ms(network(engine="per_sample", noise_model="poisson").train(), slow_steps, repeats)
    timings = {
        "original_style_poisson": original,
        "batched_noise_off": _step_ms(network().eval(), fast_steps, repeats),
        "batched_poisson": _step_ms(network(noise_model="poisson").train(), fast_steps, repeats),
        "batched_gaussian": _step_ms(network(noise_model="gaussian").train(), fast_steps, repeats),
        "batched_poisson_forward_backward": _step_ms(network().train(), fast_steps, repeats, backward=True),
    }
    optimized = timings["batched_poisson"]
    return {
        "summary": (
            f"800/200 neurons, batch 32, CPU ms per step: original style {original:.2f}, batched with the exact "
            f"Poisson noise {optimized:.3f} ({original / optimized:.0f}x; goal >= 20x), "
            f"{optimized / bound['bound_ms_per_step']:.1f}x the FFT formulation's FLOP bound "
            f"{bound['bound_ms_per_step']:.3f} ms (goal <= 3x); Gaussian draw {timings['batched_gaussian']:.3f}, "
            f"noise off {timings['batched_noise_off']:.3f}, training step (forward + backward) "
            f"{timings['batched_poisson_forward_backward']:.2f}"
        ),
        "ms_per_step": timings,
        "flop_bound": bound,
        "speedup_vs_original_style": original / optimized,
        "meets_20x_goal": original / optimized >= 20.0,
        "ratio_to_bound": optimized / bound["bound_ms_per_step"],
        "meets_3x_bound_goal": optimized / bound["bound_ms_per_step"] <= 3.0,
        "n_exc": n_exc,
        "n_inh": n_inh,
        "batch": batch,
        "steps_timed": {"original_style": slow_steps, "batched": fast_steps},
        "clock": "time.process_time (CPU seconds of this process), median of repeats",
        "torch_threads": torch.get_num_threads(),
    }
