"""Validators for user input, usable as argparse ``type=`` callables and directly in code.

Each returns the parsed value or raises :class:`ValidationError`, which argparse reports as one line
(``prog: error: argument --seed: ...``, exit 2) and :func:`trainkit.cli.run_cli` reports the same way.
Defaults are not passed through ``type=`` by argparse, so a default must already be valid.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainkit.errors import ConfigError

__all__ = [
    "SEED_LIMIT",
    "ValidationError",
    "existing_file",
    "finite_float",
    "int_in_range",
    "learning_rate",
    "nonnegative_float",
    "nonnegative_int",
    "output_dir",
    "positive_float",
    "positive_int",
    "probability",
    "seed",
]

SEED_LIMIT = 2**32  # numpy's legacy seeding and many environments accept [0, 2**32)


class ValidationError(ConfigError, argparse.ArgumentTypeError):
    """A bad user value: argparse prints its message after ``argument --flag:``; run_cli prints one line."""


def _show(value: Any) -> str:
    # repr keeps a pasted newline or an empty string visible and on one line
    return repr(value) if isinstance(value, str) else str(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"expected an integer, got {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip(), 10)
    except ValueError:
        raise ValidationError(f"expected an integer, got {_show(value)}") from None


def _to_finite_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValidationError(f"expected a number, got {value}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {_show(value)}") from None
    if not math.isfinite(number):
        raise ValidationError(f"expected a finite number, got {_show(value)}")
    return number


def int_in_range(low: int, high: int) -> Callable[[Any], int]:
    """A validator for integers in ``[low, high)``."""

    def check(value: Any) -> int:
        number = _to_int(value)
        if not low <= number < high:
            raise ValidationError(f"must be an integer in [{low}, {high}), got {_show(value)}")
        return number

    check.__name__ = f"int_in_range({low}, {high})"
    return check


def seed(value: Any) -> int:
    """A seed in ``[0, 2**32)``: what numpy, torch and gymnasium all accept."""
    number = _to_int(value)
    if not 0 <= number < SEED_LIMIT:
        raise ValidationError(f"a seed must be an integer in [0, 2**32), got {_show(value)}")
    return number


def positive_int(value: Any) -> int:
    """An integer >= 1."""
    number = _to_int(value)
    if number < 1:
        raise ValidationError(f"must be a positive integer (>= 1), got {_show(value)}")
    return number


def threads(value: Any) -> int:
    """A thread count from 1 to this machine's usable cores: more only oversubscribes, and torch/OpenMP
    crash (segfault, libgomp out of memory) on counts in the thousands."""
    number = positive_int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if number > cores:
        raise ValidationError(f"must be at most this machine's {cores} usable cores, got {_show(value)}")
    return number


def nonnegative_int(value: Any) -> int:
    """An integer >= 0."""
    number = _to_int(value)
    if number < 0:
        raise ValidationError(f"must be a non-negative integer (>= 0), got {_show(value)}")
    return number


def finite_float(value: Any) -> float:
    """Any finite float (NaN and infinities are refused)."""
    return _to_finite_float(value)


def positive_float(value: Any) -> float:
    """A finite float > 0."""
    number = _to_finite_float(value)
    if number <= 0:
        raise ValidationError(f"must be a finite number > 0, got {_show(value)}")
    return number


def nonnegative_float(value: Any) -> float:
    """A finite float >= 0."""
    number = _to_finite_float(value)
    if number < 0:
        raise ValidationError(f"must be a finite number >= 0, got {_show(value)}")
    return number


MAX_LEARNING_RATE = 10.0


def learning_rate(value: Any) -> float:
    """A learning rate: finite, > 0 and at most 10 (any larger step overflows float32 weights at once)."""
    number = positive_float(value)
    if number > MAX_LEARNING_RATE:
        raise ValidationError(f"must be at most {MAX_LEARNING_RATE:g} for a learning rate, got {_show(value)}")
    return number


def probability(value: Any) -> float:
    """A float in ``[0, 1]``."""
    number = _to_finite_float(value)
    if not 0.0 <= number <= 1.0:
        raise ValidationError(f"must be a probability in [0, 1], got {_show(value)}")
    return number


def output_dir(value: Any) -> Path:
    """A folder we can write to: created if missing, then a probe file is written and removed.

    Run before any work, so a read-only or full target fails in the first second, not at the first save.
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if not text.strip():
        raise ValidationError("an output folder must be a non-empty path")
    path = Path(text).expanduser()
    probe = path / f".trainkit-write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"probe")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValidationError(f"cannot write to {str(path)!r}: {reason}") from None
    finally:
        with contextlib.suppress(OSError):  # the probe was never created (e.g. the path is a file)
            probe.unlink(missing_ok=True)
    return path


def existing_file(value: Any) -> Path:
    """A readable regular file."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    path = Path(text).expanduser()
    if not text.strip() or not path.is_file():
        raise ValidationError(f"no such file: {_show(text)}")
    if not os.access(path, os.R_OK):
        raise ValidationError(f"cannot read {str(path)!r}: permission denied")
    return path
