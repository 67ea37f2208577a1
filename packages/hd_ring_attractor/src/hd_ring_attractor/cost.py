"""Project a bench preset's CPU time from one timed epoch of each kind, without running the preset.

``python -m hd_ring_attractor bench --preset full --estimate`` times runs of one and two epochs (their
difference is an epoch, the rest a run's fixed cost), the same for each variant the preset retrains, one
test report and one set of opponents, then multiplies by how many of each the preset runs. CPU seconds
of this process, one torch thread: on an idle machine wall time is about the same, on a loaded one more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from hd_ring_attractor.bench import BenchPreset
from hd_ring_attractor.experiment import OPTIMIZERS, SEARCH_SEED, TaskSize, opponents, report_on_test, train_arm
from hd_ring_attractor.speed import measure_simulation_speed

__all__ = ["estimate_cost"]


def _cpu(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def _epoch(size: TaskSize, device: torch.device) -> tuple[float, float, Any]:
    """CPU seconds of one more epoch, of a run's fixed part (data, start validation), and the model.

    A first, untimed run takes the one-off costs (lazy initialisation, first calls), like the bench's warm-up.
    """
    train_arm(size, OPTIMIZERS["optimized"], 1e-4, 1, SEARCH_SEED, device)
    one, _ = _cpu(lambda: train_arm(size, OPTIMIZERS["optimized"], 1e-4, 1, SEARCH_SEED, device))
    two, trained = _cpu(lambda: train_arm(size, OPTIMIZERS["optimized"], 1e-4, 2, SEARCH_SEED, device))
    return two - one, max(2 * one - two, 0.0), trained


def estimate_cost(preset: BenchPreset, seeds: int, device: torch.device) -> dict[str, Any]:
    """Timed units and the projected total CPU seconds of ``preset`` with ``seeds`` seeds."""
    size = preset.size
    epoch, setup, (model, trainer) = _epoch(size, device)
    report, _ = _cpu(lambda: report_on_test(model, size, trainer.test_data))
    rivals, _ = _cpu(lambda: opponents(size, 0, device))
    speed = _cpu(measure_simulation_speed)[0] if preset.measure_speed else 0.0
    arms, candidates = len(preset.arms), len(preset.lr_candidates)
    run = preset.epochs * epoch + setup
    parts = {
        "search": arms * candidates * (preset.search_epochs * epoch + setup),
        "arm_runs": arms * seeds * (run + report),
        "opponents": seeds * rivals,
        "homogeneous_check": seeds * (run + report + rivals) if preset.homogeneous_check else 0.0,
        "simulation_speed": speed,
    }
    units = {
        "epoch_cpu_s": epoch,
        "run_setup_cpu_s": setup,
        "test_report_cpu_s": report,
        "opponents_cpu_s": rivals,
        "speed_cpu_s": speed,
    }
    if preset.choice_costs:
        for name, variant in (("whole_trial_backprop", replace(size, tbptt_steps=0)),):
            units[f"{name}_epoch_cpu_s"] = _epoch(variant, device)[0]
            parts[f"choice_cost_{name}"] = seeds * (preset.epochs * units[f"{name}_epoch_cpu_s"] + setup + report)
    total = sum(parts.values())
    listing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in parts.items())
    return {
        "summary": f"projected {total / 60:.1f} CPU minutes for {seeds} seeds ({listing})",
        "projected_cpu_s": total,
        "parts_cpu_s": parts,
        "timed_units": units,
        "not_counted": "warm-ups (one epoch of one batch per arm) and per-run setup",
        "clock": "time.process_time, one torch thread",
        "size": {"n_exc": size.n_exc, "n_inh": size.n_inh, "n_train": size.n_train, "tbptt_steps": size.tbptt_steps},
    }
