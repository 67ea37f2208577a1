"""Chronological splits: walk-forward train/validation windows and an untouched final test block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainkit import ConfigError

__all__ = ["Split", "Window", "make_split", "select_on_validation"]


@dataclass(frozen=True)
class Window:
    """Iteration ``index`` trains on bars ``[train_start, train_end)`` and validates on ``[val_start, val_end)``."""

    index: int
    train_start: int
    train_end: int
    val_start: int
    val_end: int


@dataclass(frozen=True)
class Split:
    windows: tuple[Window, ...]
    test_start: int
    test_end: int


def make_split(
    n_bars: int,
    warmup: int,
    iterations: int | None = None,
    train_size: int = 2_000,
    val_size: int = 500,
    step: int = 500,
    gap: int = 1,
    test_fraction: float = 0.2,
) -> Split:
    """The last ``test_fraction`` of the bars is the test block; walk-forward windows fill the rest.

    Window i trains on ``[warmup + i*step, … + train_size)``, skips ``gap`` bars, validates on the
    next ``val_size``; every validation window ends before the test block starts. ``iterations``
    caps the number of windows (all that fit when None); fewer windows than asked is an error.
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if min(train_size, val_size, step) < 2 or gap < 0:
        raise ConfigError("train_size, val_size and step must be >= 2 and gap >= 0")
    test_start = int(n_bars * (1 - test_fraction))
    if n_bars - test_start < 2:
        raise ConfigError(f"{n_bars} bars leave no test block")
    fits = (test_start - (warmup + train_size + gap + val_size)) // step + 1
    if fits < 1:
        need = int((warmup + train_size + gap + val_size) / (1 - test_fraction)) + 1
        raise ConfigError(
            f"{n_bars} bars are too few for one walk-forward window "
            f"(train {train_size} + gap {gap} + val {val_size} + warm-up {warmup} + 20% test needs >= {need})"
        )
    if iterations is not None and iterations > fits:
        raise ConfigError(f"{n_bars} bars fit {fits} walk-forward iterations, {iterations} were asked for")
    count = fits if iterations is None else iterations
    windows = []
    for i in range(count):
        train_start = warmup + i * step
        val_start = train_start + train_size + gap
        windows.append(Window(i, train_start, train_start + train_size, val_start, val_start + val_size))
    return Split(tuple(windows), test_start, n_bars)


def select_on_validation(candidates: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """The ``(validation_score, model_path)`` with the highest score; the first one wins ties.

    Only validation scores enter here: the test block is evaluated once, after selection.
    """
    if not candidates:
        raise ValueError("no candidates to select from")
    best = candidates[0]
    for candidate in candidates[1:]:
        if candidate[0] > best[0]:
            best = candidate
    return best
