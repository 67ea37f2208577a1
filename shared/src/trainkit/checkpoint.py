"""Atomic checkpoints: a crash during a save never destroys the previous one."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from trainkit.atomic import atomic_write
from trainkit.errors import CheckpointError

__all__ = ["FORMAT_KEY", "ModelCheckpoint", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT_KEY = "trainkit_checkpoint"
FORMAT_VERSION = 1
_STEP_IN_NAME = re.compile(r"(\d+)")


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``.

    Store tensors, numbers, strings, lists and dicts only, so that ``weights_only`` loading works.
    """
    with atomic_write(path, "wb") as handle:
        torch.save({FORMAT_KEY: FORMAT_VERSION, "state": dict(state)}, handle)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    A missing, truncated or foreign file raises a one-line :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files; all mean the same to a user
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line[:200]})") from exc
    if not isinstance(payload, dict) or payload.get(FORMAT_KEY) != FORMAT_VERSION or "state" not in payload:
        raise CheckpointError(f"{path}: not a trainkit checkpoint (foreign or older format)")
    return payload["state"]


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


class ModelCheckpoint:
    """Save every ``every_n`` epochs to ``dirpath/filename`` and keep the newest ``keep_last`` of them.

    ``filename`` is formatted with ``epoch``; ``state_fn`` builds the state only when a save is due.
    Other files in ``dirpath`` are never pruned.
    """

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        every_n: int = 1,
        keep_last: int = 2,
        filename: str = "epoch{epoch:06d}.pt",
    ) -> None:
        if every_n < 1 or keep_last < 1:
            raise ValueError(f"need every_n >= 1 and keep_last >= 1, got {every_n} and {keep_last}")
        self.dirpath = Path(dirpath)
        self.every_n = every_n
        self.keep_last = keep_last
        self.filename = filename

    def save(self, epoch: int, state: Mapping[str, Any]) -> Path:
        path = save_checkpoint(self.dirpath / self.filename.format(epoch=epoch), state)
        self._prune()
        return path

    def maybe_save(self, epoch: int, state_fn: Callable[[], Mapping[str, Any]], force: bool = False) -> Path | None:
        """Save when ``epoch`` is a multiple of ``every_n`` (or ``force``); return the path if saved."""
        if force or epoch % self.every_n == 0:
            return self.save(epoch, state_fn())
        return None

    def _own_files(self) -> list[Path]:
        """Files this callback wrote: names that fit ``filename`` with the epoch as a wildcard."""
        pattern = re.sub(r"\{epoch[^}]*\}", "*", self.filename)
        return [p for p in self.dirpath.glob(pattern) if p.is_file() and not p.name.startswith(".")]

    def latest(self) -> Path | None:
        own = self._own_files()
        return max(own, key=lambda p: (_step_of(p), p.stat().st_mtime_ns)) if own else None

    def _prune(self) -> None:
        kept = sorted(
            self._own_files(),
            key=lambda p: (_step_of(p), p.stat().st_mtime_ns),
        )
        for old in kept[: -self.keep_last]:
            old.unlink(missing_ok=True)
