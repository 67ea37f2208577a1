"""tqdm progress bars, quiet in CI and when stderr is not a terminal.

Only the CI rule is ours: the rest is tqdm's. ``disable=None`` is tqdm's "off when the output is not a
TTY", and ``TQDM_DISABLE=1`` (or any other ``TQDM_*`` default) is honoured by tqdm itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["in_ci", "progress_bar"]

T = TypeVar("T")


def in_ci() -> bool:
    """Whether ``CI`` is set to something other than empty, 0 or false (as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def progress_bar(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``: off in CI and when stderr is not a TTY; ``disable=True`` turns it off.

    An explicit ``disable=False`` does not force a bar into CI logs or a redirected file.
    """
    disable = kwargs.pop("disable", None)
    if disable or in_ci():
        kwargs["disable"] = True
    elif "TQDM_DISABLE" not in os.environ:
        kwargs["disable"] = None  # passing it explicitly would override TQDM_DISABLE, so only when unset
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
