"""train_relentless: train until the target holds, with evaluation cadence, patience, checkpoints and resume."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from neuro_gym.circuit import Circuit
from neuro_gym.neuro_gym import TIE_BREAK_LIMIT, NeuroGym
from neuro_gym.profiles import TrainingProfile
from trainkit import CheckpointError, ConfigError, EarlyStopping, EvalCadence, ModelCheckpoint, load_checkpoint
from trainkit.checkpoint import require

__all__ = ["HOLD_EVALUATIONS", "checkpointed_epochs", "train_relentless"]

CHECKPOINT_KIND = "train_relentless"
# A target counts as reached only when it held for this many consecutive evaluations.
HOLD_EVALUATIONS = 2


def train_relentless(
    circuit: Circuit,
    task_data: dict[str, Any],
    target_acc: float = 0.9,
    eval_frequency: int = 5,
    early_stop_patience: int = 50,
    max_epochs: int = 300,
    profile: TrainingProfile | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    stop_at_target: bool = True,
    engine: Literal["batched", "loop"] = "batched",
    seed: int = 0,
    **gym_kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """Yield a status dict after every epoch until the target holds, patience runs out or ``max_epochs``.

    Evaluation runs in each of the first 10 epochs, then every ``eval_frequency`` epochs (and at the
    last epoch); other epochs carry the last evaluated accuracy with ``evaluated=False``. The target is
    reached when ``accuracy >= target_acc`` for 2 consecutive evaluations. Patience counts evaluations
    without improvement (:class:`trainkit.EarlyStopping`). A ``profile`` supplies eval_frequency,
    patience and the NeuroGym settings. With ``checkpoint_dir`` the run saves every ``checkpoint_every``
    epochs and at its end, and resumes from the latest checkpoint there, continuing the epoch count,
    schedules, early-stopping state and clock; ``checkpoint_due`` marks an epoch whose checkpoint is
    written when the caller asks for the next status (flush logs then). ``tie_break_share``: the share
    of the last evaluation's answers chosen by the membrane
    tie-break rather than by spike counts; ``tie_break_flag`` marks more than 10%.
    """
    if profile is not None:
        if circuit.schedule != profile.schedule:
            raise ConfigError(f"the circuit's plasticity schedule differs from profile {profile.name!r}")
        eval_frequency, early_stop_patience = profile.eval_frequency, profile.early_stop_patience
        gym_kwargs = {**profile.gym_kwargs(), **gym_kwargs}
    if max_epochs < 1 or not 0.0 < target_acc <= 1.0:
        raise ConfigError(f"need max_epochs >= 1 and 0 < target_acc <= 1, got {max_epochs} and {target_acc}")
    gym = NeuroGym(circuit, task_data, engine=engine, seed=seed, **gym_kwargs)
    cadence = EvalCadence(every=eval_frequency, always_first=10)
    stopper = EarlyStopping("accuracy", patience=early_stop_patience, mode="max")
    checkpoints = (
        ModelCheckpoint(checkpoint_dir, every_n=checkpoint_every, package="neuro_gym", kind=CHECKPOINT_KIND)
        if checkpoint_dir
        else None
    )
    progress = {"accuracy": 0.0, "held": 0, "reached_epoch": None, "elapsed_s": 0.0, "tie_break_share": None}
    if checkpoints is not None and (latest := checkpoints.latest()) is not None:
        _resume(latest, circuit, gym, stopper, progress)

    def snapshot() -> dict[str, Any]:
        return {
            "circuit": circuit.state_dict(),
            "gym": gym.state_dict(),
            "early_stopping": stopper.state_dict(),
            "progress": dict(progress),
        }

    clock_start = time.perf_counter() - progress["elapsed_s"]
    while gym.epoch < max_epochs and not stopper.stopped:
        if stop_at_target and progress["reached_epoch"] is not None:
            break
        info = gym.train_epoch()
        epoch = gym.epoch
        evaluated = cadence.should_evaluate(epoch, is_last=epoch == max_epochs)
        eval_ms = None
        if evaluated:
            accuracy, metrics = gym.evaluate()
            eval_ms = metrics["eval_ms"]
            _record_evaluation(progress, accuracy, metrics["tie_break_share"], epoch, target_acc)
            stopper.should_stop(accuracy)
        progress["elapsed_s"] = time.perf_counter() - clock_start
        done = epoch >= max_epochs or stopper.stopped or (stop_at_target and progress["reached_epoch"] is not None)
        # The epoch's status goes out before its checkpoint is written, so the caller's log row for it is on
        # disk first: a kill in between leaves the log ahead of the checkpoint (a resume cuts the extra rows),
        # never behind it (rows lost for good).
        due = checkpoints is not None and (done or epoch % checkpoint_every == 0)
        try:
            yield _status(epoch, evaluated, info, eval_ms, progress, stopper, due, done)
        finally:  # also when the caller stops iterating early
            if due and checkpoints is not None:
                checkpoints.save(epoch, snapshot())


def _status(
    epoch: int,
    evaluated: bool,
    info: dict[str, float],
    eval_ms: float | None,
    progress: dict[str, Any],
    stopper: EarlyStopping,
    checkpoint_due: bool,
    done: bool = False,
) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "accuracy": progress["accuracy"],
        "evaluated": evaluated,
        "train_ms": info["train_ms"],
        "eval_ms": eval_ms,
        "teacher": info["teacher"],
        "elapsed_s": progress["elapsed_s"],
        "reached_target": progress["reached_epoch"] is not None,
        "reached_epoch": progress["reached_epoch"],
        "best_accuracy": stopper.best,
        "stop_reason": _stop_reason(epoch, progress, stopper, done),
        "checkpoint_due": checkpoint_due,
        "tie_break_share": progress["tie_break_share"],
        "tie_break_flag": (progress["tie_break_share"] or 0.0) > TIE_BREAK_LIMIT,
    }


def _stop_reason(epoch: int, progress: dict[str, Any], stopper: EarlyStopping, done: bool) -> str | None:
    """Why the run stops at this epoch (None while it goes on): early stopping, the target or the budget."""
    if stopper.reason is not None:
        return stopper.reason
    if not done:
        return None
    if progress["reached_epoch"] is not None:
        return f"reached the target at epoch {progress['reached_epoch']}"
    return f"epoch budget spent ({epoch} epochs)"


def _record_evaluation(
    progress: dict[str, Any], accuracy: float, tie_break_share: float, epoch: int, target_acc: float
) -> None:
    """Update the run's progress with one evaluation; the target is reached once it held long enough."""
    progress["accuracy"] = accuracy
    progress["tie_break_share"] = tie_break_share
    progress["held"] = progress["held"] + 1 if accuracy >= target_acc else 0
    if progress["held"] >= HOLD_EVALUATIONS and progress["reached_epoch"] is None:
        progress["reached_epoch"] = epoch


def checkpointed_epochs(checkpoint_dir: str | os.PathLike[str]) -> int:
    """Epochs done in the latest checkpoint under ``checkpoint_dir`` (0 without one): the log rows a
    resumed run keeps."""
    latest = ModelCheckpoint(checkpoint_dir, package="neuro_gym", kind=CHECKPOINT_KIND).latest()
    if latest is None:
        return 0
    state = load_checkpoint(latest, package="neuro_gym", kind=CHECKPOINT_KIND)
    return require(require(state, "gym", dict, source=latest), "epoch", int, source=latest)


def _resume(path: Path, circuit: Circuit, gym: NeuroGym, stopper: EarlyStopping, progress: dict[str, Any]) -> None:
    state = load_checkpoint(path, package="neuro_gym", kind=CHECKPOINT_KIND)
    try:
        circuit.load_state_dict(state["circuit"])
        gym.load_state_dict(state["gym"])
        stopper.load_state_dict(state["early_stopping"])
        progress.update(state["progress"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot resume from it ({exc})") from exc
