"""A CSV logger that writes rows in batches and never loses more than the unflushed batch."""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import os
import signal
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from trainkit.atomic import atomic_write, open_append, refuse_link
from trainkit.errors import CSVHeaderError
from trainkit.tensorboard import TensorBoardSink

__all__ = ["BatchedCSVLogger", "truncate_csv_rows"]

_open_loggers: weakref.WeakSet[BatchedCSVLogger] = weakref.WeakSet()
_sigterm_installed = False


def _flush_open_loggers() -> None:
    for logger in list(_open_loggers):
        with contextlib.suppress(OSError):  # a full disk at exit: the run already said so in one line
            logger.close()


def _on_sigterm(previous: Any):
    def handler(signum: int, frame: FrameType | None) -> None:
        _flush_open_loggers()
        if callable(previous):
            previous(signum, frame)
        else:
            # Exit through SystemExit so `finally` blocks and atexit hooks still run.
            raise SystemExit(128 + signum)

    return handler


def _install_sigterm_flush() -> None:
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return
    signal.signal(signal.SIGTERM, _on_sigterm(previous))
    atexit.register(_flush_open_loggers)
    _sigterm_installed = True


def truncate_csv_rows(path: str | os.PathLike[str], keep_rows: int) -> int:
    """Keep the header and the first ``keep_rows`` data rows of a CSV log; return the rows kept.

    A resumed run replays what came after its checkpoint, so those rows go rather than appear twice.
    A torn last line from a hard kill goes too. The rewrite is atomic.
    """
    path = refuse_link(path)
    if keep_rows < 0:
        raise ValueError(f"keep_rows must be >= 0, got {keep_rows}")
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    kept = lines[: keep_rows + 1]
    if len(kept) != len(lines):
        with atomic_write(path) as handle:
            handle.writelines(kept)
    return max(len(kept) - 1, 0)


class BatchedCSVLogger:
    """Buffer rows and append them to ``path`` every ``batch_size`` rows; optionally TensorBoard too.

    Rows are also flushed on :meth:`close`, when the ``with`` block exits (exception or not), at
    interpreter exit and on SIGTERM. Reopening an existing file appends after checking that its
    header matches ``fieldnames``; a torn last line left by a hard kill is cut off first.

    The checkpoint contract, so that the log matches the checkpoint after any kill:

    1. call :meth:`flush` right before every checkpoint is written, and store ``rows_written`` in it;
    2. on resume, open the logger with ``keep_rows=<rows_written from the checkpoint>``: rows after the
       checkpoint (which the resumed run replays) are dropped, so none is missing or duplicated.

    With ``tensorboard_dir`` each numeric field is also a TensorBoard scalar (``torch.utils.tensorboard``,
    the ``tensorboard`` extra), written on the same flushes; the step is ``row[step_field]`` if given,
    else the row index. On reopening, TensorBoard's ``purge_step`` hides the events after the kept rows.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fieldnames: Sequence[str],
        batch_size: int = 100,
        keep_rows: int | None = None,
        tensorboard_dir: str | os.PathLike[str] | None = None,
        step_field: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(set(fieldnames)) != len(fieldnames) or not fieldnames:
            raise ValueError(f"fieldnames must be non-empty and unique, got {list(fieldnames)}")
        self.path = Path(path)
        self.fieldnames = list(fieldnames)
        self.batch_size = batch_size
        self.rows_written = 0
        self._buffer: list[Mapping[str, Any]] = []
        self._closed = False
        if step_field is not None and step_field not in self.fieldnames:
            raise ValueError(f"step_field {step_field!r} is not one of the fields {self.fieldnames}")
        self._prepare_file(keep_rows)
        self._tensorboard: TensorBoardSink | None = None
        if tensorboard_dir is not None:
            self._tensorboard = TensorBoardSink(
                tensorboard_dir, step_field=step_field, purge_step=self._purge_step(step_field)
            )
        _open_loggers.add(self)
        _install_sigterm_flush()

    def _header_line(self) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(self.fieldnames)
        return out.getvalue()

    def _prepare_file(self, keep_rows: int | None) -> None:
        refuse_link(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._append(self._header_line())
            return
        with open(self.path, newline="") as existing:
            found = next(csv.reader(existing), [])
        if found != self.fieldnames:
            raise CSVHeaderError(
                f"{self.path}: existing header {found} differs from this logger's fields {self.fieldnames}; "
                "refusing to mix two layouts in one file"
            )
        if keep_rows is not None:
            truncate_csv_rows(self.path, keep_rows)
        self._cut_torn_tail()
        with open(self.path, newline="") as existing:
            self.rows_written = sum(1 for _ in csv.reader(existing)) - 1

    def _purge_step(self, step_field: str | None) -> int | None:
        """The first TensorBoard step after the rows kept in the CSV (None for a fresh log)."""
        if self.rows_written == 0:
            return None
        if step_field is None:
            return self.rows_written
        with open(self.path, newline="") as existing:
            last = list(csv.DictReader(existing))[-1]
        try:
            return int(float(last[step_field])) + 1
        except (TypeError, ValueError):  # an empty or text step: nothing sensible to purge after
            return None

    def _cut_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        with open(self.path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)

    def _append(self, text: str) -> None:
        try:
            with open_append(self.path) as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror, os.fspath(self.path)) from exc
            raise

    def log(self, row: Mapping[str, Any]) -> None:
        """Queue one row; unknown keys are an error, missing keys are written empty."""
        if self._closed:
            raise ValueError(f"{self.path}: logger is closed")
        unknown = set(row) - set(self.fieldnames)
        if unknown:
            raise ValueError(f"{self.path}: unknown fields {sorted(unknown)}")
        self._buffer.append(dict(row))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Append the buffered rows in one write (and to TensorBoard). Call before every checkpoint."""
        if not self._buffer:
            return
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.fieldnames, lineterminator="\n")
        writer.writerows(self._buffer)
        self._append(out.getvalue())
        if self._tensorboard is not None:
            self._tensorboard.write(self._buffer, first_index=self.rows_written)
            self._tensorboard.flush()
        self.rows_written += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._tensorboard is not None:
            self._tensorboard.close()
        _open_loggers.discard(self)

    def __enter__(self) -> BatchedCSVLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
