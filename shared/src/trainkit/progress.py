"""tqdm progress bars: a live bar in a terminal, plain lines with an ETA in a log file, nothing in CI.

Under ``nohup`` or ``> log`` a bar's carriage returns would pile up in the file, so there the same tqdm
bar writes one plain line (``desc: 40%|####  | 4/10 [00:12<00:18, ...]``, the ETA after ``<``) at most
every ``TRAINKIT_PROGRESS_INTERVAL`` seconds (default 30), and one when it closes. ``CI`` set turns bars
off; ``TQDM_DISABLE=1`` (or any other ``TQDM_*`` default) is honoured by tqdm itself.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["PLAIN_INTERVAL_S", "in_ci", "plain_interval_s", "progress_bar"]

T = TypeVar("T")
PLAIN_INTERVAL_S = 30.0


def in_ci() -> bool:
    """Whether ``CI`` is set to something other than empty, 0 or false (as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def plain_interval_s() -> float:
    """Seconds between plain progress lines: ``TRAINKIT_PROGRESS_INTERVAL`` if a positive number, else 30."""
    try:
        value = float(os.environ.get("TRAINKIT_PROGRESS_INTERVAL", PLAIN_INTERVAL_S))
    except ValueError:
        return PLAIN_INTERVAL_S
    return value if value > 0 else PLAIN_INTERVAL_S


class _PlainLines(io.TextIOBase):
    """tqdm's output file when stderr is not a terminal: each refresh becomes one line, no ``\\r``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").replace("\x1b[A", "").strip()
        if line:
            self._stream.write(line + "\n")
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``: a bar in a terminal, plain timed lines otherwise, off in CI.

    ``disable=True`` turns it off; an explicit ``disable=False`` does not force a bar into CI logs.
    """
    disable = kwargs.pop("disable", None)
    if disable or in_ci():
        kwargs["disable"] = True
    elif "TQDM_DISABLE" not in os.environ:
        kwargs["disable"] = False  # passing it explicitly would override TQDM_DISABLE, so only when unset
    stream = kwargs.get("file", sys.stderr)
    if _is_terminal(stream):
        kwargs.setdefault("dynamic_ncols", True)
    else:
        kwargs["file"] = _PlainLines(stream)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 100)
        kwargs["mininterval"] = max(kwargs.get("mininterval", 0.0), plain_interval_s())
    return tqdm(iterable, **kwargs)
