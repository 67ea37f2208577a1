"""Original vs optimized, measured in one interleaved run with the same seeds.

- Training: plain SGD at a fixed rate (original), Adam at a fixed rate (middle) and Adam + cosine
  annealing (optimized), the same trainer, data, epoch budget and constraints. The contract's speedup
  is the time to reach the target validation error, original over optimized.
- Simulation speed at the seed's size (800/200 neurons, batch 32): the original's per-step kernel
  rebuild and per-sample loop against the batched engine with the kernel built once.
- Baselines on the same test set: the untrained network, holding the cue, and Zhang's hand-set g_av = 1.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from hd_ring_attractor.enhanced_training import AdamCosineTrainer
from hd_ring_attractor.evaluation import cue_only_error_deg, evaluate
from hd_ring_attractor.models import RingAttractorNetwork
from hd_ring_attractor.tasks import PathIntegrationTask, make_splits
from trainkit import RunResult, build_benchmark, resolve_device, run_interleaved, write_benchmark
from trainkit.benchmark import current_command

__all__ = ["PRESETS", "TRAINING_MODES", "BenchPreset", "measure_simulation_speed", "run_benchmark"]


@dataclass(frozen=True)
class BenchPreset:
    """Sizes of one preset. ``dark_ms`` shorter than 500 only in ``ci``, to fit its time budget."""

    n_exc: int
    n_inh: int
    dark_ms: float
    batch_size: int
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    seeds: int
    learning_rate: float = 1e-2
    min_lr: float = 1e-5
    target_error_deg: float = 2.0
    hold_ms: float = 1000.0
    speed_repeats: int = 3
    slow_engine_steps: int = 3
    fast_engine_steps: int = 30


PRESETS: dict[str, BenchPreset] = {
    "ci": BenchPreset(
        64, 16, dark_ms=200.0, batch_size=8, n_train=32, n_val=16, n_test=32, epochs=3, seeds=2, hold_ms=500.0
    ),
    "quick": BenchPreset(64, 16, dark_ms=500.0, batch_size=8, n_train=64, n_val=32, n_test=64, epochs=4, seeds=3),
    "full": BenchPreset(
        800,
        200,
        dark_ms=500.0,
        batch_size=32,
        n_train=320,
        n_val=64,
        n_test=128,
        epochs=30,
        seeds=3,
        learning_rate=1e-3,
        min_lr=1e-6,
        speed_repeats=5,
        slow_engine_steps=5,
        fast_engine_steps=100,
    ),
}
TRAINING_MODES: dict[str, dict[str, str]] = {
    "original": {"optimizer": "sgd", "schedule": "constant"},
    "adam_fixed": {"optimizer": "adam", "schedule": "constant"},
    "optimized": {"optimizer": "adam", "schedule": "cosine"},
}
MODE_LABELS = {"original": "original: SGD, fixed", "adam_fixed": "Adam, fixed", "optimized": "optimized: Adam + cosine"}
SPEED_SIZE = (800, 200, 32)  # n_exc, n_inh, batch: the seed's model, as the issue asks


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def measure_simulation_speed(preset: BenchPreset, device: torch.device) -> dict[str, Any]:
    """ms per simulation step of both engines at 800/200 neurons, batch 32, noise on, no gradient.

    The engines alternate within each repeat; the median over repeats is reported.
    """
    n_exc, n_inh, batch = SPEED_SIZE
    task = PathIntegrationTask()
    data = task.sample(batch, seed=12345).to(device)
    timings: dict[str, list[float]] = {"per_sample": [], "batched": []}
    steps = {"per_sample": preset.slow_engine_steps, "batched": preset.fast_engine_steps}
    models = {engine: RingAttractorNetwork(n_exc, n_inh, g_av=1.0, engine=engine, device=device) for engine in timings}
    with torch.no_grad():
        for _ in range(preset.speed_repeats + 1):  # the first round warms up and is discarded
            for engine, model in models.items():
                omega = data.angular_velocity[:, : steps[engine]]
                started = time.perf_counter()
                model(omega, data.cue_angle, cue_steps=1)
                timings[engine].append(1000.0 * (time.perf_counter() - started) / steps[engine])
    per_sample = statistics.median(timings["per_sample"][1:])
    batched = statistics.median(timings["batched"][1:])
    return {
        "summary": (
            f"800/200 neurons, batch 32: original-style step (kernel rebuilt every step, Python loop over the batch) "
            f"{per_sample:.2f} ms vs batched step with the kernel built once {batched:.3f} ms: "
            f"{per_sample / batched:.1f}x (goal >= 20x)"
        ),
        "original_ms_per_step": per_sample,
        "optimized_ms_per_step": batched,
        "speedup": per_sample / batched,
        "goal_speedup": 20.0,
        "meets_goal": per_sample / batched >= 20.0,
        "n_exc": n_exc,
        "n_inh": n_inh,
        "batch": batch,
        "steps_timed": steps,
        "repeats": preset.speed_repeats,
        "all_ms_per_step": timings,
    }


def _training_run(preset: BenchPreset, mode: dict[str, str], device: torch.device) -> Callable[[int], RunResult]:
    task = PathIntegrationTask(dark_ms=preset.dark_ms)

    def run(seed: int) -> RunResult:
        data = make_splits(task, preset.n_train, preset.n_val, preset.n_test, seed=seed)
        model = RingAttractorNetwork(preset.n_exc, preset.n_inh, device=device)
        with tempfile.TemporaryDirectory(prefix="hd_ring_bench_") as folder:
            config = {
                **mode,
                "learning_rate": preset.learning_rate,
                "min_lr": preset.min_lr,
                "max_epochs": preset.epochs,
                "batch_size": preset.batch_size,
                "n_sequences": preset.n_train,
                "target_error_deg": preset.target_error_deg,
                "seed": seed,
                "checkpoint_dir": folder,
                "device": str(device),
                "log_interval": 0,
            }
            trainer = AdamCosineTrainer(model, config, data=data)
            started = time.perf_counter()
            history = trainer.train()
            wall = time.perf_counter() - started
        test = evaluate(model, trainer.test_data, hold_ms=preset.hold_ms)
        epochs = len(history["epoch"])
        return RunResult(
            seed=seed,
            wall_s=wall,
            work={"epochs": float(epochs), "optimizer_steps": float(epochs * (preset.n_train // preset.batch_size))},
            quality=test["mean_error_deg"],
            extra={
                "time_to_target_s": trainer.time_to_target_s,
                "epochs_to_target": trainer.epochs_to_target,
                "reached_target": trainer.epochs_to_target is not None,
                "train_time_s": trainer.train_time_s,
                "test": test,
                "val_error_deg": history["val_error_deg"],
                "g_av": trainer.param_history["g_av"],
                "learning_rate": history["learning_rate"],
            },
        )

    return run


def _baselines(preset: BenchPreset, device: torch.device) -> dict[str, Any]:
    """Trivial and ideal references on the seed-0 test set at the preset's size."""
    _, _, test = make_splits(PathIntegrationTask(dark_ms=preset.dark_ms), 1, 1, preset.n_test, seed=0)
    test = test.to(device)
    untrained = evaluate(RingAttractorNetwork(preset.n_exc, preset.n_inh, device=device), test, preset.hold_ms)
    zhang = evaluate(RingAttractorNetwork(preset.n_exc, preset.n_inh, g_av=1.0, device=device), test, preset.hold_ms)
    cue = cue_only_error_deg(test.to("cpu"))
    return {
        "summary": (
            f"test mean |error|: untrained network (g_av = 0) {untrained['mean_error_deg']:.2f} deg, "
            f"holding the cue {cue['mean_error_deg']:.2f} deg, "
            f"hand-set Zhang g_av = 1 {zhang['mean_error_deg']:.2f} deg"
        ),
        "untrained": untrained,
        "cue_only": cue,
        "zhang_g_av_1": zhang,
    }


def _mode_summary(name: str, runs: list[RunResult], target: float) -> dict[str, Any]:
    reached = [r for r in runs if r.extra["reached_target"]]
    epochs = _median([r.extra["epochs_to_target"] for r in runs])
    seconds = _median([r.extra["time_to_target_s"] for r in runs])
    error = statistics.median(r.quality for r in runs)
    g_av = statistics.median(r.extra["test"]["g_av"] for r in runs)
    reach = (
        f"reached {target:g} deg in {len(reached)}/{len(runs)} seeds (median {epochs} epochs, {seconds:.1f} s)"
        if reached
        else f"never reached {target:g} deg"
    )
    return {
        "summary": f"{name}: median test error {error:.2f} deg, g_av {g_av:.3f}; {reach}",
        "median_test_error_deg": error,
        "median_g_av": g_av,
        "seeds_reaching_target": len(reached),
        "median_epochs_to_target": epochs,
        "median_time_to_target_s": seconds,
    }


def _plot(results: dict[str, list[RunResult]], speed: dict[str, Any], target: float, out: Path) -> None:
    figure = Figure(figsize=(13, 3.8), layout="constrained")
    error_axis, gain_axis, speed_axis = figure.subplots(1, 3)
    for name, runs in results.items():
        for index, run in enumerate(runs):
            label = MODE_LABELS[name] if index == 0 else None
            color = {"original": "C0", "adam_fixed": "C1", "optimized": "C2"}[name]
            epochs = range(1, len(run.extra["val_error_deg"]) + 1)
            error_axis.plot(epochs, run.extra["val_error_deg"], color=color, alpha=0.7, label=label)
            gain_axis.plot(range(len(run.extra["g_av"])), run.extra["g_av"], color=color, alpha=0.7, label=label)
    error_axis.axhline(target, color="grey", linestyle="--", label=f"target {target:g} deg")
    error_axis.set(xlabel="epoch", ylabel="validation mean |error| (deg)", yscale="log", title="training (all seeds)")
    error_axis.legend()
    gain_axis.axhline(1.0, color="grey", linestyle="--", label="Zhang ideal")
    gain_axis.set(xlabel="epoch", ylabel="g_av", title="velocity gain")
    gain_axis.legend()
    speed_axis.bar(["original-style", "batched"], [speed["original_ms_per_step"], speed["optimized_ms_per_step"]])
    speed_axis.set(ylabel="ms per step", yscale="log", title="simulation, 800/200 neurons, batch 32")
    figure.savefig(out / "hd_ring_attractor_benchmark.png", dpi=90)


def run_benchmark(
    preset_name: str,
    seeds: int | None,
    out: Path,
    device_name: str = "auto",
    threads: int = 1,
    preset: BenchPreset | None = None,
) -> Path:
    """Run every comparison of ``preset_name`` and write ``out/benchmark.json`` and its plot.

    ``preset`` replaces the named preset's sizes (tests use a tiny one); the name is still recorded.
    """
    preset = preset or PRESETS[preset_name]
    device = resolve_device(device_name)
    torch.set_num_threads(threads)
    seed_list = list(range(seeds if seeds is not None else preset.seeds))
    speed = measure_simulation_speed(preset, device)
    modes = {name: _training_run(preset, mode, device) for name, mode in TRAINING_MODES.items()}
    results = run_interleaved(modes, seed_list, desc="hd_ring_attractor bench")
    baselines = _baselines(preset, device)
    extra = {
        "simulation_speed": speed,
        "adam_fixed_lr": _mode_summary("Adam, fixed rate", results["adam_fixed"], preset.target_error_deg),
        "training_original": _mode_summary("SGD, fixed rate", results["original"], preset.target_error_deg),
        "training_optimized": _mode_summary("Adam + cosine", results["optimized"], preset.target_error_deg),
        "baselines": baselines,
        "adam_fixed_runs": [asdict(run) for run in results["adam_fixed"]],
    }
    notes = [
        f"model {preset.n_exc}/{preset.n_inh} neurons, batch {preset.batch_size}, {preset.n_train} training trials, "
        f"{preset.epochs} epochs for every mode, learning rate {preset.learning_rate:g} (gains x10), "
        f"target {preset.target_error_deg:g} deg validation error",
        f"trial: 100 ms cue then {preset.dark_ms:g} ms of angular velocity alone (OU, s.d. 90 deg/s)",
        f"torch threads: {threads}; quality = test mean |circular error| in degrees after the cue",
        "speedup = time to reach the target (training seconds), SGD fixed rate over Adam + cosine; "
        "null if either never reached it",
    ]
    for name in ("original", "optimized"):
        missed = sum(not run.extra["reached_target"] for run in results[name])
        if missed:
            notes.append(
                f"{name} did not reach {preset.target_error_deg:g} deg within {preset.epochs} epochs "
                f"in {missed}/{len(results[name])} seeds; those seeds have no time-to-target speedup"
            )
    doc = build_benchmark(
        "hd_ring_attractor",
        preset_name,
        current_command("hd_ring_attractor"),
        {"original": results["original"], "optimized": results["optimized"]},
        quality_metric="test mean circular error (deg)",
        higher_is_better=False,
        device=device,
        speedup_basis="time_to_target_s",
        non_inferiority_margin=0.5,
        extra_comparisons=extra,
        notes=notes,
    )
    out.mkdir(parents=True, exist_ok=True)
    _plot(results, speed, preset.target_error_deg, out)
    return write_benchmark(out, doc)
