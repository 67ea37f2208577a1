"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "remove_stale_temp_files", "write_json"]


def _new_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (temp files start at 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write through a temp file in the same folder, then fsync and ``os.replace`` it onto ``path``.

    If the block raises (or the process dies) the previous ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        mode, dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
        try:
            yield handle.file  # the plain io object: some writers (SB3's save) reject the tempfile wrapper
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
    try:
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically; return the path."""
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(payload, indent=2))
    return Path(path)


def remove_stale_temp_files(folder: str | os.PathLike[str], recursive: bool = False) -> int:
    """Delete the ``.<name>.<random>.tmp`` files a process killed inside :func:`atomic_write` left in ``folder``.

    Call it when a run resumes, before anything writes there; return how many were removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = list(folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
