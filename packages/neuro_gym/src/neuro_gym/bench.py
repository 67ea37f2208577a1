"""`bench` on benchmark contract v3: the design document's claim (its settings, one engine) and our engine.

Arms (every one trains XOR and the sequence task for the same fixed number of epochs, patience off, and
records when the target first held for two evaluations). "original" is our re-implementation of the
original code's settings, not the original project's code:

- ``original``: the original's settings on the fused batched engine;
- ``optimized``: the design document's ``balanced`` profile on the same engine, so the headline is the
  design document's own claim (settings only, 3.4x on XOR);
- ``original_per_sample``: the original's settings presented one sample at a time, as the original code
  did, through the same fused engine at batch 1 (the row "our per-sample engine vs our batched engine");
- ``max_speed``: the design document's "maximum speed" profile on the batched engine.

``speedup_basis`` is the wall time until both targets held (XOR + sequence), ``cpu_basis`` its CPU time;
a seed where an arm missed a target has no ratio.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro_gym.circuit import Circuit
from neuro_gym.neuro_gym import NeuroGym
from neuro_gym.peers import engine_comparison
from neuro_gym.profiles import TrainingProfile, get_profile
from neuro_gym.smart_trainer import train_relentless
from neuro_gym.tasks import order_blind
from trainkit.harness import (
    Arm,
    BenchContext,
    BenchSpec,
    Decomposition,
    DesignClaim,
    Hyperparameter,
    Margin,
    Opponent,
    RunResult,
    cited,
)
from trainkit.plotting import new_figure, save_figure

__all__ = ["PRESETS", "BenchPreset", "build_spec", "plot"]

TARGETS = {"xor": 1.0, "sequence": 0.9}
ORIGINAL_REPO = "shiva2321/Biological-Machanical-Nuron @ 86af36b"


@dataclass(frozen=True)
class BenchPreset:
    seeds: int
    xor_epochs: int
    sequence_epochs: int
    control_seeds: int
    engine_check: bool  # per-step timings, FLOP bound and peers (about 15 CPU seconds)
    per_sample_seeds: int | None = 3  # the per-sample arm is a decomposition row, not the headline


PRESETS = {
    "ci": BenchPreset(seeds=2, xor_epochs=20, sequence_epochs=4, control_seeds=1, engine_check=False),
    # 20 seeds (fixed before the run): the headline arms cost about a second a seed; the per-sample arm, about
    # 20 s a seed, runs on the first per_sample_seeds only
    "quick": BenchPreset(seeds=20, xor_epochs=100, sequence_epochs=100, control_seeds=3, engine_check=True),
    "full": BenchPreset(seeds=10, xor_epochs=100, sequence_epochs=300, control_seeds=5, engine_check=True),
}
ARMS = {  # name: (profile, engine, description)
    "original": ("original", "batched", "our re-implementation of the original code's settings, batched engine"),
    "original_per_sample": (
        "original",
        "loop",
        "the original's settings one sample at a time (as its code), our fused engine at batch 1",
    ),
    "max_speed": ("max_speed", "batched", "design document's max-speed profile, batched engine"),
    "optimized": ("balanced", "batched", "design document's balanced profile, batched engine"),
}
DESIGN_CLAIM = DesignClaim(3.4, 3.4, "design document 000, Benchmarks: XOR 54 s -> 16 s, 3.4x faster")
MARGIN = Margin(
    0.01,
    "one point of the two tasks' mean accuracy, fixed before the run: two of the sequence task's 100 "
    "held-out samples (XOR's 4 samples move it in steps of 12.5 points, so any XOR loss is outside it)",
)
DECOMPOSITION = [
    Decomposition("our per-sample engine vs our batched engine (original settings)", "original_per_sample", "original"),
    Decomposition("max-speed profile instead of the original settings (batched)", "original", "max_speed"),
    Decomposition("per-sample, original settings -> batched, balanced", "original_per_sample", "optimized"),
]
OPPONENT_DESCRIPTIONS = {
    "chance": "a uniform guess: 1/2 on XOR, 1/10 on the sequence task",
    "untrained_readout": "the circuit before any training, on both tasks",
    "order_blind": "the same circuit trained on order-blind tokens (sequence task; XOR at 1.0, its best)",
}


def _hyperparameters(profile: TrainingProfile) -> dict[str, Hyperparameter]:
    if profile.name == "original":
        where = f"{ORIGINAL_REPO}, neuro_gym.py NeuroGym.train_step"
        return {
            "num_time_steps": cited(5, f"{where}: num_time_steps=5"),
            "teacher_fade": cited(0.9, f"{where}: teacher current x0.9 per step"),
            "curriculum": cited("10% over 100 epochs", f"{where}: teacher*(1 - 0.1*min(epoch/100, 1))"),
            "schedule": cited(
                "homeostasis and consolidation every update, lr decay every 100, window 1000",
                f"{ORIGINAL_REPO}, TRAINING_OPTIMIZATIONS.md, Technical Details (the 'was' values)",
            ),
            "eval_frequency": cited(1, f"{ORIGINAL_REPO}, smart_trainer.py: evaluates every epoch"),
        }
    doc = f"{ORIGINAL_REPO}, TRAINING_OPTIMIZATIONS.md"
    tips = {"balanced": "Balanced (Recommended)", "max_speed": "For Maximum Speed"}.get(profile.name, profile.name)
    return {
        "num_time_steps": cited(profile.num_time_steps, f"{doc}, Configuration Tips / {tips}: num_time_steps"),
        "teacher_fade": cited(profile.teacher_fade, f"{doc}, section 4: teacher forcing decay 0.85 (was 0.9)"),
        "curriculum": cited("15% over 50 epochs", f"{doc}, section 4: 15% vs 10% reduction over 50 epochs vs 100"),
        "schedule": cited(
            "homeostasis 500, lr decay 200, window 500, consolidation 100",
            f"{doc}, Technical Details / STDP Optimizations",
        ),
        "eval_frequency": cited(profile.eval_frequency, f"{doc}, Configuration Tips / {tips}: eval_frequency"),
    }


def _train_task(
    name: str, profile: TrainingProfile, engine: str, seed: int, epochs: int, device: torch.device
) -> dict[str, Any]:
    """Train one task for exactly ``epochs`` (patience off); record when the target first held."""
    circuit, task = Circuit.for_task(name, profile, seed, device)
    settings = {**profile.gym_kwargs(), "eval_frequency": profile.eval_frequency, "early_stop_patience": 0}
    cpu_start = time.process_time()
    at_target: dict[str, Any] = {}
    train_ms, eval_ms, status = [], [], {}
    for status in train_relentless(
        circuit,
        task,
        target_acc=TARGETS[name],
        max_epochs=epochs,
        stop_at_target=False,
        engine=engine,
        seed=seed,
        **settings,
    ):
        train_ms.append(status["train_ms"])
        if status["eval_ms"] is not None:
            eval_ms.append(status["eval_ms"])
        if status["reached_epoch"] is not None and not at_target:
            at_target = {
                "epoch": status["reached_epoch"],
                "wall_s": status["elapsed_s"],
                "cpu_s": time.process_time() - cpu_start,
                "accuracy": status["accuracy"],
            }
    return {
        "epochs_to_target": at_target.get("epoch"),
        "time_to_target_s": at_target.get("wall_s"),
        "cpu_to_target_s": at_target.get("cpu_s"),
        "accuracy_at_target": at_target.get("accuracy"),
        "accuracy_at_budget": status["accuracy"],
        "tie_break_share_at_budget": status["tie_break_share"],
        "train_ms_per_epoch": statistics.median(train_ms),
        "eval_ms": statistics.median(eval_ms),
    }


def _total(per_task: dict[str, dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in per_task.values()]
    return None if None in values else float(sum(values))


def _arm(name: str, preset: BenchPreset, device: torch.device) -> Arm:
    profile_name, engine, description = ARMS[name]
    profile = get_profile(profile_name)

    def run(seed: int) -> RunResult:
        per_task = {
            task: _train_task(task, profile, engine, seed, getattr(preset, f"{task}_epochs"), device)
            for task in TARGETS
        }
        extra: dict[str, Any] = {
            "time_to_target_s": _total(per_task, "time_to_target_s"),
            "cpu_to_target_s": _total(per_task, "cpu_to_target_s"),
        }
        for task, result in per_task.items():
            extra.update({f"{task}_{key}": value for key, value in result.items()})
        stop = [
            r["accuracy_at_target"] if r["accuracy_at_target"] is not None else r["accuracy_at_budget"]
            for r in per_task.values()
        ]
        return RunResult(
            seed=seed,
            quality=float(np.mean(stop)),
            quality_at_budget=float(np.mean([r["accuracy_at_budget"] for r in per_task.values()])),
            work={f"{task}_epochs": float(getattr(preset, f"{task}_epochs")) for task in TARGETS},
            extra=extra,
        )

    def warmup() -> None:
        for task in TARGETS:
            _train_task(task, profile, engine, seed=0, epochs=1, device=device)

    return Arm(
        run=run,
        warmup=warmup,
        description=description,
        hyperparameters=_hyperparameters(profile),
        max_seeds=preset.per_sample_seeds if engine == "loop" else None,
    )


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _epochs_summary(record: dict[str, list[RunResult]], notes: list[str]) -> dict[str, Any]:
    """Epochs to target per arm and task; appends the measured answer to the design document's claim."""
    table = {
        arm: {
            task: {
                "median_epochs_to_target": _median([r.extra[f"{task}_epochs_to_target"] for r in runs]),
                "reached": sum(r.extra[f"{task}_epochs_to_target"] is not None for r in runs),
                "seeds": len(runs),
                "median_tie_break_share_at_budget": _median(
                    [r.extra[f"{task}_tie_break_share_at_budget"] for r in runs]
                ),
            }
            for task in TARGETS
        }
        for arm, runs in record.items()
    }
    words = []
    for task in TARGETS:
        cells = ", ".join(
            f"{arm} {_fmt(table[arm][task]['median_epochs_to_target'])} ({table[arm][task]['reached']}/"
            f"{table[arm][task]['seeds']} reached)"
            for arm in record
        )
        before, after = (table[a][task]["median_epochs_to_target"] for a in ("original", "optimized"))
        change = "n/a" if not before or after is None else f"{100.0 * (after - before) / before:+.0f}%"
        words.append(f"{task}: {cells}; balanced vs original settings on the same engine: {change} epochs")
    claim = (
        "Epochs to the held target (median over seeds, this run): " + "; ".join(words) + ". The design "
        "document claims the optimized settings reach the target in 30-40% fewer epochs; a positive change "
        "above means more epochs, not fewer."
    )
    notes.append(claim)
    return {"summary": claim, **table}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _controls(preset: BenchPreset, seeds: list[int], device: torch.device) -> dict[str, Any]:
    """Degenerate opponents: the untrained circuit on both tasks, and the order-blind input on the sequence."""
    profile = get_profile("balanced")
    untrained, untrained_xor, real, blind = [], [], [], []
    for seed in seeds:
        circuit, task = Circuit.for_task("xor", profile, seed, device)
        untrained_xor.append(NeuroGym(circuit, task).evaluate()[0])
        circuit, task = Circuit.for_task("sequence", profile, seed, device)
        untrained.append(NeuroGym(circuit, task).evaluate()[0])
        for data, sink in ((task, real), (order_blind(task), blind)):
            circuit, _ = Circuit.for_task(data, profile, seed, device)
            gym = NeuroGym(circuit, data, seed=seed, **profile.gym_kwargs())
            for _ in range(preset.sequence_epochs):
                gym.train_epoch()
            sink.append(gym.evaluate()[0])
    return {
        "summary": f"sequence held-out accuracy after {preset.sequence_epochs} epochs (balanced): circuit "
        f"{_fmt(_median(real))}, same circuit fed order-blind tokens {_fmt(_median(blind))}, untrained readout "
        f"{_fmt(_median(untrained))} (chance 0.1; order-blind ceiling 0.5)",
        "circuit": real,
        "order_blind": blind,
        "untrained": untrained,
        "untrained_xor": untrained_xor,
        "seeds": seeds,
    }


def opponents(extras: dict[str, Any]) -> list[Opponent]:
    """Chance, the untrained circuit and the order-blind circuit, as the mean of the two tasks' accuracies."""
    controls = extras["controls"]
    untrained = statistics.fmean(x + s for x, s in zip(controls["untrained_xor"], controls["untrained"])) / 2
    values = {
        "chance": (1 / 2 + 1 / 10) / 2,
        "untrained_readout": untrained,
        "order_blind": (1.0 + statistics.fmean(controls["order_blind"])) / 2,
    }
    return [Opponent(name, value, OPPONENT_DESCRIPTIONS[name]) for name, value in values.items()]


def plot(doc: dict[str, Any], out: Path) -> list[Path]:
    """Time and epochs to the held target per arm and task (one point per seed); a seed that missed its
    target is drawn as a cross at what it spent instead (its whole run's wall time, the epoch budget)."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.8))
    arms = list(doc["modes"])
    missed_labelled = False
    for ax, (key, label) in zip(
        np.ravel(axes), (("time_to_target_s", "wall s to target"), ("epochs_to_target", "epochs"))
    ):
        for offset, task in ((-0.15, "xor"), (0.15, "sequence")):
            color = "tab:blue" if task == "xor" else "tab:orange"
            for i, arm in enumerate(arms):
                runs = doc["modes"][arm]["runs"]
                reached = [r["extra"][f"{task}_{key}"] for r in runs if r["extra"][f"{task}_{key}"] is not None]
                spent = [
                    r["wall_s"] if key == "time_to_target_s" else r["work"][f"{task}_epochs"]
                    for r in runs
                    if r["extra"][f"{task}_{key}"] is None
                ]
                ax.scatter([i + offset] * len(reached), reached, s=14, color=color, label=task if i == 0 else None)
                if spent:
                    missed = None if missed_labelled else "missed the target (drawn at what it spent)"
                    ax.scatter([i + offset] * len(spent), spent, s=30, marker="x", color="tab:red", label=missed)
                    missed_labelled = True
        ax.set_xticks(range(len(arms)), arms, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_title(f"{label} (held target; crosses: missed)", fontsize=9)
        ax.legend(fontsize=7)
    return [save_figure(fig, out / "neuro_gym_bench.png")]


def build_spec(ctx: BenchContext) -> BenchSpec:
    preset: BenchPreset = ctx.preset
    notes = [
        "original = the original code's settings (5 steps per token, homeostasis and consolidation every update, "
        "lr decay every 100, rate window 1000, evaluation every epoch, teacher fade 0.9, curriculum 10% over 100 "
        "epochs); optimized = the design document's 'balanced' profile (3 steps, 500/200/500/100, every 5, fade "
        "0.85, 15% over 50 epochs); max_speed = its 'maximum speed' profile (2 steps, evaluation every 10).",
        "The per-sample engine updates the readout after every sample step, the batched engines once per step for "
        "the whole batch, so their epoch counts differ; compare times.",
        "Patience is off in every arm so that each runs the same epochs; the original's patience of 50 evaluations "
        "would otherwise end it after 50 epochs without improvement and the optimized after 250.",
        "quality = mean of XOR and sequence (held-out) accuracy where each target first held (at the budget if "
        "missed); quality_at_budget = the same after the full budget.",
    ]

    def extra_comparisons() -> dict[str, Any]:
        controls = ctx.seeds[: max(1, min(preset.control_seeds, len(ctx.seeds)))]
        out = {
            "epochs_to_target": _epochs_summary(ctx.results, notes),
            "controls": _controls(preset, controls, ctx.device),
        }
        if preset.engine_check:
            out["engine_per_step"] = engine_comparison()
        return out

    return BenchSpec(
        package="neuro_gym",
        quality_metric="accuracy",
        higher_is_better=True,
        budget=f"{preset.xor_epochs} XOR epochs and {preset.sequence_epochs} sequence epochs for every arm",
        arms={name: _arm(name, preset, ctx.device) for name in ARMS},
        speedup_basis="time_to_target_s",
        cpu_basis="cpu_to_target_s",
        non_inferiority_margin=MARGIN,
        opponents=opponents,
        design_claim=DESIGN_CLAIM,
        decomposition=DECOMPOSITION,
        extra_comparisons=extra_comparisons,
        plots=plot,
        notes=notes,
        changed_from_v1=[
            "The headline is the design document's claim itself (the original's settings vs the balanced profile, "
            "both on the batched engine); schema 2's end-to-end headline (per-sample engine with the original's "
            "settings vs batched with balanced) is now the last decomposition row, and our per-sample engine vs our "
            "batched engine is a row of its own.",
            "Every arm runs the same epoch budget with patience off, so quality is also compared at an equal budget.",
        ],
    )
