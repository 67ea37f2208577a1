"""A stopwatch that also splits CPU time (``time.process_time``) by section.

On a shared machine wall time measures the neighbours as much as the code; CPU time per section is what
the issue's "update share of CPU time" means. trainkit's ``Stopwatch`` times wall clock only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from trainkit import Stopwatch

__all__ = ["CpuStopwatch"]


class CpuStopwatch(Stopwatch):
    """``trainkit.Stopwatch`` plus per-section process CPU seconds (``cpu_totals``)."""

    def __init__(self) -> None:
        super().__init__()
        self._cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        start = time.process_time()
        try:
            with super().section(name):
                yield
        finally:
            self._cpu[name] += time.process_time() - start

    def cpu_totals(self) -> dict[str, float]:
        return dict(self._cpu)
