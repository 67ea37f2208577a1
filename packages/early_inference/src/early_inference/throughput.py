"""Training throughput of ``train``'s own optimisation step (no data loading, no validation)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from early_inference.train_early_inference import CONFIG, MODEL_PROFILES, build_model_and_optimizer, optimization_step

__all__ = ["Throughput", "measure_training_throughput"]


@dataclass
class Throughput:
    samples_per_s: float
    cpu_s_per_step: float  # process CPU time per step: steadier than wall time on a shared machine
    model: torch.nn.Module  # the network the probe trained (built exactly as ``train`` builds it)


def measure_training_throughput(
    profile: str,
    threads: int,
    steps: int,
    batch_size: int = 256,
    config: Mapping[str, Any] = CONFIG,
    points: int = 100,
) -> Throughput:
    """Samples/s of ``optimization_step`` on a random batch shaped like ``config``'s inputs.

    ``points`` is the prefix length the network sees (after ``prefix_points`` averaging, if any).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model_kwargs = {**MODEL_PROFILES[profile], "sequence_length": points}
        model, optimizer = build_model_and_optimizer(3, 2, config, model_kwargs)
        channels = 1 if config["known_as_channels"] else 3
        x, known = torch.randn(batch_size, channels, points), torch.randn(batch_size, 3)
        target = torch.randn(batch_size, 2)
        optimization_step(model, optimizer, config, x, known, target)  # warm-up: allocations, kernel choice
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            optimization_step(model, optimizer, config, x, known, target)
        cpu_per_step = (time.process_time() - cpu) / steps
        return Throughput(steps * batch_size / (time.perf_counter() - started), cpu_per_step, model)
    finally:
        torch.set_num_threads(previous)
