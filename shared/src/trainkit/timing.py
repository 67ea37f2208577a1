"""Wall-clock sections for "where the time goes" reports."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Stopwatch"]


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
