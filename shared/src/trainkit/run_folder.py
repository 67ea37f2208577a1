"""One run per output folder: a lock that a second run into the same folder meets as one line.

``claim_run_folder(folder)`` takes an exclusive ``flock`` on the folder itself (no lock file is left
behind) and then clears the temp files a killed run left there. The lock lasts until the process exits,
or until :func:`release_run_folder`; the kernel drops it when a killed process dies, so a resume after
``kill -9`` is never refused. Claiming a folder this process already holds is a no-op, so a bench that
resumes a run in-process works as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from trainkit.atomic import remove_stale_temp_files
from trainkit.errors import OutputError

__all__ = ["claim_run_folder", "release_run_folder"]

_held: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) of a folder -> the open descriptor holding it


def _identity(folder: Path) -> tuple[int, int]:
    stat = folder.stat()
    return stat.st_dev, stat.st_ino


def claim_run_folder(folder: str | os.PathLike[str], recursive: bool = False) -> int:
    """Create ``folder``, lock it for this process, and remove stale temp files; return how many went.

    Raises a one-line :class:`OutputError` when another process holds the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = _identity(folder)
    if key not in _held:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{folder}: another run is writing to this folder; wait for it to finish, or choose another "
                "output folder"
            ) from None
        _held[key] = fd
    return remove_stale_temp_files(folder, recursive=recursive)


def _forget_in_child() -> None:
    """A forked worker closes its copies, so a worker outliving a killed parent cannot keep the lock."""
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def release_run_folder(folder: str | os.PathLike[str]) -> None:
    """Let another process claim ``folder`` (a no-op if this process does not hold it)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    fd = _held.pop(_identity(folder), None)
    if fd is not None:
        os.close(fd)
