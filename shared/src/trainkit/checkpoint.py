"""Atomic checkpoints that say what they are: a crash during a save never destroys the previous one,
and loading never executes code (``torch.load(weights_only=True)``).

Each file records the trainkit format version and, when given, the ``package`` that wrote it and its
``kind`` ("train_state", "policy", ...). ``load_checkpoint(path, package=..., kind=...)`` refuses any other
with one :class:`CheckpointError` line; :func:`require` reads a key of the right type the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

import torch

from trainkit.atomic import atomic_write
from trainkit.errors import CheckpointError

__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "ModelCheckpoint",
    "latest_checkpoint",
    "load_checkpoint",
    "require",
    "save_checkpoint",
]

FORMAT_KEY = "trainkit_checkpoint"
FORMAT_VERSION = 2  # 2 added "package" and "kind"; version 1 files load when no identity is asked for
_READABLE_VERSIONS = (1, 2)
_STEP_IN_NAME = re.compile(r"(\d+)")
T = TypeVar("T")


def save_checkpoint(
    path: str | os.PathLike[str],
    state: Mapping[str, Any],
    *,
    package: str | None = None,
    kind: str | None = None,
) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    Pass ``package`` and ``kind`` so that :func:`load_checkpoint` can refuse a file from elsewhere. Store
    tensors, numbers, strings, lists and dicts only, so that ``weights_only`` loading works.
    """
    for name, value in (("package", package), ("kind", kind)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    payload = {FORMAT_KEY: FORMAT_VERSION, "package": package, "kind": kind, "state": dict(state)}
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)
    return Path(path)


def _read(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files; all mean the same to a user
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line[:200]})") from exc
    if (
        not isinstance(payload, dict)
        or payload.get(FORMAT_KEY) not in _READABLE_VERSIONS
        or not isinstance(payload.get("state"), dict)
    ):
        raise CheckpointError(f"{path}: not a trainkit checkpoint (foreign or unknown format)")
    return payload


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    *,
    package: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    A missing, truncated, unsafe or foreign file, or one whose recorded ``package``/``kind`` differs
    from the one asked for, raises a one-line :class:`CheckpointError`.
    """
    path = Path(path)
    payload = _read(path, map_location)
    for name, wanted in (("package", package), ("kind", kind)):
        if wanted is None:
            continue
        found = payload.get(name)
        if found is None:
            raise CheckpointError(f"{path}: the checkpoint does not record its {name}; expected {wanted!r}")
        if found != wanted:
            raise CheckpointError(f"{path}: a {name} {found!r} checkpoint, not {wanted!r}")
    return payload["state"]


@overload
def require(state: Mapping[str, Any], key: str, expected: type[T], *, source: object = None) -> T: ...
@overload
def require(state: Mapping[str, Any], key: str, expected: tuple[type, ...], *, source: object = None) -> Any: ...
def require(state: Mapping[str, Any], key: str, expected: Any, *, source: object = None) -> Any:
    """``state[key]`` if present and of type ``expected`` (an int passes for float), else a one-line
    :class:`CheckpointError` naming ``source`` (e.g. the checkpoint path)."""
    where = f"{source}: " if source is not None else ""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where}checkpoint state is a {type(state).__name__}, not a mapping")
    if key not in state:
        raise CheckpointError(f"{where}checkpoint has no {key!r} (written by another program or version?)")
    value = state[key]
    types = expected if isinstance(expected, tuple) else (expected,)
    if float in types and not isinstance(value, bool) and isinstance(value, int):
        return float(value)
    # a bool is an int to isinstance, but never what a caller asking for an int means
    mistyped = (isinstance(value, bool) and bool not in types) or not isinstance(value, types)
    if mistyped:
        wanted = " or ".join(t.__name__ for t in types)
        raise CheckpointError(f"{where}checkpoint's {key!r} is a {type(value).__name__}, expected {wanted}")
    return value


def _step_of(path: Path) -> int:
    numbers = _STEP_IN_NAME.findall(path.stem)
    return int(numbers[-1]) if numbers else -1


def latest_checkpoint(folder: str | os.PathLike[str], pattern: str = "*.pt") -> Path | None:
    """The checkpoint with the highest number in its name (then the newest), ignoring temp files."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (_step_of(p), p.stat().st_mtime_ns))


# Re-exported so that `from trainkit.checkpoint import ModelCheckpoint` keeps working.
from trainkit.model_checkpoint import ModelCheckpoint  # noqa: E402
