"""TensorBoard scalars through ``torch.utils.tensorboard``: the logger's second sink (optional extra)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainkit.errors import ConfigError

__all__ = ["TensorBoardSink", "scalar_or_none"]

INSTALL_HINT = "pip install 'fivebench-trainkit[tensorboard]'"


def scalar_or_none(value: Any) -> float | None:
    """A real number (Python, numpy or one-element tensor) as float; None for text, empty or bool."""
    if value is None or isinstance(value, (str, bytes, bool)):
        return None
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, RuntimeError):  # more than one element
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number  # NaN and inf pass: worth seeing in TensorBoard


class TensorBoardSink:
    """Writes each numeric field of a row as a scalar named after the field.

    The step is ``row[step_field]`` when given, else the row's index in the log. ``purge_step`` hides
    events at or after that step from an earlier, interrupted run, so a resumed run's replayed rows
    replace them instead of appearing twice (TensorBoard's own mechanism).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        *,
        step_field: str | None = None,
        purge_step: int | None = None,
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch raises ImportError when the tensorboard package is missing
            raise ConfigError(f"TensorBoard logging needs the tensorboard package: {INSTALL_HINT}") from exc
        self.log_dir = Path(log_dir)
        self.step_field = step_field
        # flush_secs is long: the CSV logger flushes this sink whenever it flushes itself
        self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step, flush_secs=3600)

    def write(self, rows: Sequence[Mapping[str, Any]], first_index: int) -> None:
        """Add the scalars of ``rows``; ``first_index`` is the log index of ``rows[0]``."""
        for offset, row in enumerate(rows):
            step = first_index + offset
            if self.step_field is not None:
                given = scalar_or_none(row.get(self.step_field))
                if given is None:
                    raise ValueError(f"row {step} has no numeric {self.step_field!r} to use as the TensorBoard step")
                step = int(given)
            for name, value in row.items():
                number = scalar_or_none(value)
                if name != self.step_field and number is not None:
                    self._writer.add_scalar(name, number, global_step=step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
