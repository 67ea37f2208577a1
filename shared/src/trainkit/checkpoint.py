"""Atomic checkpoints that say what they are: a crash during a save never destroys the previous one,
and loading never executes code (``torch.load(weights_only=True)``).

Each file records the trainkit format version, a sha256 of its content (every tensor's bytes, dtype and
shape, and every other value), and, when given, the ``package`` that wrote it and its ``kind``
("train_state", "policy", ...). Loading recomputes the hash, so flipped bits inside a still-valid zip are
one line, not silently wrong weights. ``load_checkpoint(path, package=..., kind=...)`` refuses any other
with one :class:`CheckpointError` line; :func:`require` reads a key of the right type the same way.
"""

from __future__ import annotations

import hashlib
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
    "content_hash",
    "last_checkpoint_path",
    "latest_checkpoint",
    "load_checkpoint",
    "require",
    "save_checkpoint",
]

FORMAT_KEY = "trainkit_checkpoint"
# 2 added "package" and "kind" (version 1 files load when no identity is asked for); 3 added "sha256"
FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)
_STEP_IN_NAME = re.compile(r"(\d+)")
T = TypeVar("T")
_last_checkpoint: Path | None = None


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` to ``digest`` in an order and encoding that a save and a load agree on."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key, item in value.items():  # pickle keeps insertion order, so a load sees the save's order
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        text = repr(value)
        digest.update(f"V{type(value).__name__}:{len(text)}:{text}".encode())


def content_hash(state: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a checkpoint's state: tensors by bytes, dtype and shape, the rest by ``repr``."""
    digest = hashlib.sha256()
    _feed(digest, dict(state))
    return digest.hexdigest()


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
    state = dict(state)
    payload = {
        FORMAT_KEY: FORMAT_VERSION,
        "package": package,
        "kind": kind,
        "sha256": content_hash(state),
        "state": state,
    }
    global _last_checkpoint
    with atomic_write(path, "wb") as handle:
        try:
            torch.save(payload, handle)
        except RuntimeError as exc:
            # torch wraps a failed write (disk full, file-size limit) in a RuntimeError: give the OSError
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, OSError):
                raise OSError(cause.errno, cause.strerror, os.fspath(path)) from exc
            raise
    _last_checkpoint = Path(path)
    return _last_checkpoint


def last_checkpoint_path() -> Path | None:
    """The checkpoint this process saved or loaded last (None before any): what a rerun resumes from."""
    return _last_checkpoint


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
    if payload[FORMAT_KEY] >= 3 and payload.get("sha256") != content_hash(payload["state"]):
        raise CheckpointError(
            f"{path}: the checkpoint's content does not match its sha256 (corrupted on disk?); "
            "restore it or start a new output folder"
        )
    return payload


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    *,
    package: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    A missing, truncated, unsafe or foreign file, one whose content no longer matches its recorded
    sha256, or one whose recorded ``package``/``kind`` differs from the one asked for, raises a one-line
    :class:`CheckpointError`.
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
    global _last_checkpoint
    _last_checkpoint = path
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
