"""tqdm progress bars that stay quiet in CI and when output is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress_bar", "progress_enabled"]

T = TypeVar("T")


def progress_enabled() -> bool:
    """False when ``CI`` is set or stderr is not a TTY."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        return False
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, off unless :func:`progress_enabled`; ``disable=True`` also turns it off."""
    kwargs["disable"] = bool(kwargs.get("disable", False)) or not progress_enabled()
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
