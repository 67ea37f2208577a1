"""Early stopping with Lightning's names: ``EarlyStopping(monitor, patience, mode, min_delta)``.

``should_stop(value)`` returns True when training should stop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` checks.

    ``patience=0`` disables the patience rule. With ``check_finite`` a NaN or infinite value
    always stops the run, and ``reason`` says why.
    """

    def __init__(
        self,
        monitor: str,
        patience: int,
        mode: Literal["min", "max"] = "min",
        min_delta: float = 0.0,
        check_finite: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor = monitor
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.check_finite = check_finite
        self.best: float | None = None
        self.wait = 0
        self.stopped = False
        self.reason: str | None = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def should_stop(self, value: float | Mapping[str, Any]) -> bool:
        """Record one check (a number, or metrics holding ``monitor``); True means stop training now.

        The name says what True means: SB3's callbacks return True to *continue*, which is the opposite.
        """
        if isinstance(value, Mapping):
            if self.monitor not in value:
                raise KeyError(f"EarlyStopping monitors {self.monitor!r}, not in {sorted(value)}")
            value = float(value[self.monitor])
        else:
            value = float(value)
        if self.check_finite and not math.isfinite(value):
            self.stopped = True
            self.reason = f"{self.monitor} = {value} is not finite; stopping"
            return True
        if self.improved(value):
            self.best = value
            self.wait = 0
            return False
        self.wait += 1
        if self.patience > 0 and self.wait >= self.patience:
            self.stopped = True
            self.reason = (
                f"{self.monitor} did not improve by more than {self.min_delta} "
                f"for {self.wait} checks (best {self.best:.6g})"
            )
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best": self.best,
            "wait": self.wait,
            "stopped": self.stopped,
            "reason": self.reason,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("monitor") != self.monitor:
            raise ValueError(
                f"early-stopping state monitors {state.get('monitor')!r}, this run monitors {self.monitor!r}"
            )
        self.best = state["best"]
        self.wait = int(state["wait"])
        self.stopped = bool(state["stopped"])
        self.reason = state["reason"]
