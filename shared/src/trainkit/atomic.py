"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from trainkit.errors import OutputError

__all__ = ["atomic_write", "open_append", "refuse_link", "remove_stale_temp_files", "write_json"]


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


def refuse_link(path: str | os.PathLike[str]) -> Path:
    """``path``, unless it is a symbolic link: a file we append to or cut is never one planted elsewhere.

    (:func:`atomic_write` needs no check: ``os.replace`` replaces a link, it does not write through it.)
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link (to {os.readlink(path)}); refusing to write through it: remove the link"
        )
    return path


def open_append(path: str | os.PathLike[str]) -> IO[str]:
    """Open ``path`` to append text (created if missing), refusing a symbolic link with one line.

    ``O_NOFOLLOW`` makes the kernel refuse a link planted between a check and the open.
    """
    path = refuse_link(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_link(path)
        raise
    return open(fd, "a", newline="")


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write through a temp file in the same folder, then fsync and ``os.replace`` it onto ``path``.

    If the block raises (or the process dies) the previous ``path`` is left as it was. A symbolic link at
    ``path`` is replaced by the new file; its target is never written.
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
        except OSError as exc:
            handle.close()
            tmp.unlink(missing_ok=True)
            if exc.filename is None:  # a failed write names no file: name the one the user asked for
                raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
            raise
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
