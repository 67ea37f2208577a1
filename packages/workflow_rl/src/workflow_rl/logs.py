"""Episode CSV logs: the original's write-and-flush per row, the fast path's batches, and resume trimming;
with ``--tensorboard`` the same rows as TensorBoard scalars too (:class:`EpisodeLog`).

The fast path uses ``trainkit.BatchedCSVLogger``. The original flushed (without fsync) every episode
row; trainkit has no such writer, so :class:`EpisodeCSVWriter` reproduces it here.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trainkit import BatchedCSVLogger, CSVHeaderError, DataError
from trainkit.atomic import open_append, refuse_link
from trainkit.tensorboard import TensorBoardSink
from workflow_rl.sim import EPISODE_STEPS

__all__ = [
    "EPISODE_FIELDS",
    "EpisodeCSVWriter",
    "EpisodeLog",
    "default_log_dir",
    "log_evaluation",
    "open_episode_log",
    "trim_episode_log",
]

EPISODE_FIELDS = (
    "episode",
    "workflow",
    "env_return",
    "alignment_return",
    "fixes",
    "compliance",
    "update",
    # the statistics of update `update` (the latest before the episode ended); empty before the first
    "policy_loss",
    "value_loss",
    "entropy",
    "clip_fraction",
    "approx_kl",
    "wall_s",
)


def default_log_dir(suffix: str = "fast") -> Path:
    return Path("logs") / f"exp_{datetime.now().strftime('%Y%m%d_%H%M%S')}_{suffix}"


class EpisodeCSVWriter:
    """Write one row and flush it, every episode (the original trainer's logging)."""

    def __init__(self, path: str | os.PathLike[str], fieldnames: Sequence[str]) -> None:
        self.path = refuse_link(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            with open(self.path, newline="") as existing:
                found = next(csv.reader(existing), [])
            if found != list(fieldnames):
                raise CSVHeaderError(f"{self.path}: existing header {found} differs from {list(fieldnames)}")
        self._handle = open_append(self.path)  # kept open for the run
        self._writer = csv.DictWriter(self._handle, fieldnames=list(fieldnames), lineterminator="\n")
        if fresh:
            self._writer.writeheader()
            self._handle.flush()

    def log(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow(row)
        self._handle.flush()

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()


class EpisodeLog:
    """The episode CSV and, with ``tensorboard_dir``, each row as TensorBoard scalars (step = episode) plus
    the learning rate and env steps per second of the training loop so far. The scalars reach disk when
    the CSV is flushed (before every checkpoint); a resumed run hides the events after its checkpoint."""

    def __init__(
        self,
        csv_log: BatchedCSVLogger | EpisodeCSVWriter,
        tensorboard_dir: str | os.PathLike[str] | None,
        lr: float,
        resumed_from: int,
    ) -> None:
        self.csv = csv_log
        self.lr, self.resumed_from = lr, resumed_from
        self.tensorboard = (
            None
            if tensorboard_dir is None
            else TensorBoardSink(tensorboard_dir, step_field="episode", purge_step=resumed_from or None)
        )

    def log(self, row: Mapping[str, Any]) -> None:
        self.csv.log(row)
        if self.tensorboard is not None:
            steps = (row["episode"] + 1 - self.resumed_from) * EPISODE_STEPS  # env steps since the loop started
            extra = {"lr": self.lr, "env_steps_per_s": steps / max(row["wall_s"], 1e-9)}
            self.tensorboard.write([{**row, **extra}], first_index=row["episode"])

    def flush(self) -> None:
        self.csv.flush()
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        self.csv.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def open_episode_log(
    path: Path, batch_size: int, tensorboard_dir: str | os.PathLike[str] | None = None, lr: float = 0.0,
    resumed_from: int = 0,
) -> EpisodeLog:  # fmt: skip
    """``batch_size`` 1 = flush every row (original); larger = ``BatchedCSVLogger`` batches (fast)."""
    if batch_size == 1:
        csv_log: BatchedCSVLogger | EpisodeCSVWriter = EpisodeCSVWriter(path, EPISODE_FIELDS)
    else:
        csv_log = BatchedCSVLogger(path, EPISODE_FIELDS, batch_size=batch_size)
    return EpisodeLog(csv_log, tensorboard_dir, lr, resumed_from)


def log_evaluation(tensorboard_dir: str | os.PathLike[str], episodes: int, evaluation: Mapping[str, float]) -> None:
    """The final seeded evaluation as ``eval_return`` and ``eval_compliance`` at step ``episodes``."""
    sink = TensorBoardSink(tensorboard_dir, step_field="episode")
    sink.write([{"episode": episodes, **{f"eval_{key}": value for key, value in evaluation.items()}}], 0)
    sink.close()


def trim_episode_log(path: Path, episodes: int) -> int:
    """Keep the rows of the first ``episodes`` episodes (those the checkpoint covers); return rows kept.

    Rows logged after the last checkpoint are replayed by the resumed run, so they are dropped here
    instead of being duplicated. A torn last line from a hard kill is dropped too.
    """
    refuse_link(path)
    if not path.exists():
        return 0
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    if not lines:
        return 0
    if next(csv.reader([lines[0]])) != list(EPISODE_FIELDS):
        raise DataError(f"{path}: not an episode log of this trainer (header {lines[0].strip()!r})")
    kept = [lines[0]]
    for line in lines[1:]:
        try:
            episode = int(line.split(",", 1)[0])
        except ValueError as exc:
            raise DataError(f"{path}: malformed row {line.strip()[:80]!r}") from exc
        if episode < episodes:
            kept.append(line)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".episodes.", delete=False) as tmp:
        tmp.writelines(kept)
    os.replace(tmp.name, path)
    return len(kept) - 1
