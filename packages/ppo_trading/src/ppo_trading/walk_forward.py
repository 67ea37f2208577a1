"""Chronological splits: walk-forward train/validation windows and an untouched final test block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainkit import ConfigError

__all__ = ["MIN_BARS", "MIN_WINDOW", "Split", "Window", "default_sizes", "make_split", "select_on_validation"]


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


MIN_BARS = 1_000
MIN_WINDOW = 20  # the fewest bars of a training, validation or test window


def default_sizes(n_bars: int, warmup: int, test_fraction: float) -> tuple[int, int]:
    """Train and validation bars that scale with the file: the original 2,000 / 500 once it is big enough.

    Validation (and the step between windows) is 1/8 of the bars before the test block, within
    [50, 500]; training is 4 validation windows, at most 2,000. A 1,000-bar file gets 348 / 87.
    """
    dev = int(n_bars * (1 - test_fraction)) - warmup
    val = min(500, max(50, dev // 8))
    return min(2_000, 4 * val), val


def make_split(
    n_bars: int,
    warmup: int,
    iterations: int | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    gap: int = 1,
    test_fraction: float = 0.2,
) -> Split:
    """The last ``test_fraction`` of the bars is the test block; walk-forward windows end right before it.

    Window i trains on ``train_size`` bars, skips ``gap`` bars and validates on the next ``val_size``;
    windows move by ``val_size``, so their validation windows tile the bars up to the test block, and
    the last validation window ends where the test block starts. ``iterations`` None uses every window
    that fits; asking for more is an error.
    """
    if not 0 < test_fraction <= 0.5:
        raise ConfigError(f"--test_fraction must be in (0, 0.5], got {test_fraction}")
    if n_bars < MIN_BARS:
        raise ConfigError(f"{n_bars} bars are too few; walk-forward training needs at least {MIN_BARS}")
    default_train, default_val = default_sizes(n_bars, warmup, test_fraction)
    train_size = default_train if train_size is None else train_size
    val_size = default_val if val_size is None else val_size
    if train_size < MIN_WINDOW or val_size < MIN_WINDOW or gap < 0:
        raise ConfigError(f"--train_bars and --val_bars must be >= {MIN_WINDOW}, got {train_size} and {val_size}")
    test_start = int(n_bars * (1 - test_fraction))
    if n_bars - test_start < MIN_WINDOW:
        raise ConfigError(
            f"--test_fraction {test_fraction:g} leaves {n_bars - test_start} of {n_bars} bars for the test block; "
            f"it needs at least {MIN_WINDOW} (--test_fraction >= {MIN_WINDOW / n_bars:.2g})"
        )
    span = train_size + gap + val_size
    fits = (test_start - warmup - span) // val_size + 1
    if fits < 1:
        raise ConfigError(
            f"{n_bars} bars are too few for one walk-forward window of --train_bars {train_size} + --val_bars "
            f"{val_size} after {warmup} warm-up bars and a {test_fraction:.0%} test block; lower them"
        )
    if iterations is not None and not 1 <= iterations <= fits:
        raise ConfigError(f"--iterations {iterations}: {n_bars} bars fit 1 to {fits} walk-forward iterations")
    count = fits if iterations is None else iterations
    windows = []
    for i in range(count):
        val_end = test_start - (count - 1 - i) * val_size
        val_start = val_end - val_size
        train_end = val_start - gap
        windows.append(Window(i, train_end - train_size, train_end, val_start, val_end))
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
