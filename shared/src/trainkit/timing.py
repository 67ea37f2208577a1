"""Timing: wall and CPU seconds of one call, and wall-clock sections for "where the time goes" reports."""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["Stopwatch", "cpu_seconds", "measure"]

T = TypeVar("T")


def cpu_seconds() -> float:
    """CPU seconds of this process plus its reaped (joined) children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(call: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``call``; return its result, wall seconds and CPU seconds (this process and reaped children)."""
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    result = call()
    return result, time.perf_counter() - wall0, cpu_seconds() - cpu0


class Stopwatch:
    """Accumulates wall time per named section: ``with sw.section("env_step"): ...``."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._started = time.perf_counter()

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._totals[name] += time.perf_counter() - start
            self._counts[name] += 1

    def add(self, name: str, seconds: float) -> None:
        """Record time measured elsewhere under ``name``."""
        self._totals[name] += seconds
        self._counts[name] += 1

    @property
    def elapsed(self) -> float:
        """Seconds since the stopwatch was created."""
        return time.perf_counter() - self._started

    def totals(self) -> dict[str, float]:
        return dict(self._totals)

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def shares(self) -> dict[str, float]:
        """Each section's fraction of the summed section time."""
        total = sum(self._totals.values())
        return {name: (value / total if total > 0 else 0.0) for name, value in self._totals.items()}

    def report(self) -> str:
        """A small text table, largest section first."""
        shares = self.shares()
        lines = [f"{'section':<20} {'total_s':>10} {'calls':>8} {'share':>7}"]
        for name, total in sorted(self._totals.items(), key=lambda item: -item[1]):
            lines.append(f"{name:<20} {total:>10.4f} {self._counts[name]:>8d} {shares[name]:>7.1%}")
        return "\n".join(lines)
