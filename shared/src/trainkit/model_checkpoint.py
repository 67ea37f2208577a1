"""``ModelCheckpoint`` with Lightning's arguments: keep the ``save_top_k`` best (or newest) and a ``last``."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from trainkit.checkpoint import _step_of, save_checkpoint
from trainkit.errors import ConfigError

__all__ = ["ModelCheckpoint"]

log = logging.getLogger(__name__)
StateFn = Callable[[], Mapping[str, Any]]


class ModelCheckpoint:
    """Checkpoints every ``every_n`` epochs, as Lightning's callback of the same name does.

    - ``monitor=None``: keep the newest ``save_top_k`` epoch files; ``best_path`` is the newest.
    - ``monitor="val_loss"``: keep the ``save_top_k`` files with the best ``metrics[monitor]`` (``mode``
      "min" or "max"; a NaN is never kept as best); ``best_path`` is the best.
    - ``save_top_k=-1`` keeps every file, ``0`` none; ``save_last`` also writes ``last.pt`` each time,
      which is what a resumed run loads (``last_path``).

    Files are ``dirpath/filename.format(epoch=...)``; only files this callback wrote are ever pruned.
    With ``monitor`` set, put :meth:`state_dict` in the state you save and call :meth:`load_state_dict`
    on resume, so that the scores of files saved before the restart are remembered (the state built by
    ``state_fn`` already includes this epoch). Call your logger's ``flush()`` before each checkpoint.
    """

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        *,
        monitor: str | None = None,
        mode: Literal["min", "max"] = "min",
        save_top_k: int = 1,
        save_last: bool = True,
        every_n: int = 1,
        filename: str = "epoch{epoch:06d}.pt",
        last_filename: str = "last.pt",
        package: str | None = None,
        kind: str | None = None,
    ) -> None:
        if every_n < 1 or save_top_k < -1:
            raise ValueError(f"need every_n >= 1 and save_top_k >= -1, got {every_n} and {save_top_k}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if "{epoch" not in filename:
            raise ValueError(f"filename must contain {{epoch}}, got {filename!r}")
        self.dirpath = Path(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.save_top_k = save_top_k
        self.save_last = save_last
        self.every_n = every_n
        self.filename = filename
        self.last_filename = last_filename
        self.package = package
        self.kind = kind
        self._check_paths()
        self.scores: dict[str, float] = {}  # file name -> monitored value, for the files kept (monitor set)

    # ---- the Lightning-style entry point ---------------------------------------------------------------

    def _check_paths(self) -> None:
        """Refuse, before any training, a checkpoint folder or ``last`` file that cannot be written."""
        last = self.dirpath / self.last_filename
        if self.dirpath.exists() and not self.dirpath.is_dir():
            raise ConfigError(f"{self.dirpath}: the checkpoint folder is a file")
        if self.save_last and last.exists() and not last.is_file():
            raise ConfigError(f"{last}: expected a checkpoint file, found a folder; move it away or use another folder")

    def update(self, epoch: int, metrics: Mapping[str, Any], state_fn: StateFn, force: bool = False) -> Path | None:
        """At the end of ``epoch``: save if due (or ``force``); return the epoch file or ``last.pt`` written."""
        if not force and epoch % self.every_n != 0:
            return None
        score = self._score(metrics)
        path = self.dirpath / self.filename.format(epoch=epoch)
        keep = self._would_keep(score)
        dropped: list[Path] = []
        if keep and self.monitor is not None:
            # settle the kept set before state_fn, so that a state_dict() saved in this state is current
            self.scores[path.name] = score
            dropped = self._drop_worst()
        state = state_fn()
        written: Path | None = None
        if keep:
            written = save_checkpoint(path, state, package=self.package, kind=self.kind)
        if self.save_last:
            last = save_checkpoint(self._last_file, state, package=self.package, kind=self.kind)
            written = written or last
        for old in dropped:
            old.unlink(missing_ok=True)
        if self.monitor is None:
            self._prune_oldest()
        return written

    @property
    def _last_file(self) -> Path:
        return self.dirpath / self.last_filename

    @property
    def best_path(self) -> Path | None:
        """The best kept file (``monitor`` set) or the newest kept epoch file; None before any."""
        if self.monitor is None:
            return self.latest()
        present = {name: s for name, s in self.scores.items() if (self.dirpath / name).is_file()}
        if not present:
            return None
        pick = min if self.mode == "min" else max
        return self.dirpath / pick(present, key=lambda name: present[name])

    @property
    def last_path(self) -> Path | None:
        """``last.pt`` when ``save_last``, else the newest epoch file; None before any save."""
        if self.save_last:
            last = self._last_file
            return last if last.is_file() else None
        return self.latest()

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "scores": dict(self.scores)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the kept files' scores; an epoch file this callback wrote but does not list (a save
        interrupted after the resumed checkpoint) is removed, since the resumed run writes it again."""
        if state.get("monitor") != self.monitor or state.get("mode") != self.mode:
            raise ValueError(
                f"checkpoint callback state is for monitor={state.get('monitor')!r} mode={state.get('mode')!r}, "
                f"this run uses monitor={self.monitor!r} mode={self.mode!r}"
            )
        self.scores = {str(name): float(score) for name, score in dict(state.get("scores", {})).items()}
        if self.monitor is not None:
            for path in self._own_files():
                if path.name not in self.scores:
                    log.info("removing %s: not among the checkpoints recorded at resume", path)
                    path.unlink(missing_ok=True)

    # ---- the v1 entry points (kept while packages move to update) -----------------------------------

    def save(self, epoch: int, state: Mapping[str, Any]) -> Path:
        """Write the epoch file now (no monitor), then prune."""
        path = save_checkpoint(
            self.dirpath / self.filename.format(epoch=epoch), state, package=self.package, kind=self.kind
        )
        if self.save_last:
            save_checkpoint(self._last_file, state, package=self.package, kind=self.kind)
        self._prune_oldest()
        return path

    def maybe_save(self, epoch: int, state_fn: StateFn, force: bool = False) -> Path | None:
        """Save when ``epoch`` is a multiple of ``every_n`` (or ``force``); return the path if saved."""
        if force or epoch % self.every_n == 0:
            return self.save(epoch, state_fn())
        return None

    def latest(self) -> Path | None:
        """The newest epoch file this callback wrote (by the number in its name, then mtime)."""
        own = self._own_files()
        return max(own, key=lambda p: (_step_of(p), p.stat().st_mtime_ns)) if own else None

    # ---- internals -------------------------------------------------------------------------------------

    def _score(self, metrics: Mapping[str, Any]) -> float:
        if self.monitor is None:
            return math.nan
        if self.monitor not in metrics:
            raise KeyError(f"ModelCheckpoint monitors {self.monitor!r}, not in {sorted(metrics)}")
        return float(metrics[self.monitor])

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def _would_keep(self, score: float) -> bool:
        if self.save_top_k == 0:
            return False
        if self.monitor is None or self.save_top_k == -1:
            return True
        if not math.isfinite(score):
            return False
        if len(self.scores) < self.save_top_k:
            return True
        worst = max(self.scores.values()) if self.mode == "min" else min(self.scores.values())
        return self._better(score, worst)

    def _own_files(self) -> list[Path]:
        """Files this callback wrote: names that fit ``filename`` with the epoch as a wildcard."""
        pattern = re.sub(r"\{epoch[^}]*\}", "*", self.filename)
        return [
            p
            for p in self.dirpath.glob(pattern)
            if p.is_file() and not p.name.startswith(".") and p.name != self.last_filename
        ]

    def _prune_oldest(self) -> None:
        """Without a monitor: keep the newest ``save_top_k`` epoch files."""
        if self.save_top_k == -1:
            return
        kept = sorted(self._own_files(), key=lambda p: (_step_of(p), p.stat().st_mtime_ns))
        for old in kept[: max(len(kept) - self.save_top_k, 0)]:
            old.unlink(missing_ok=True)

    def _drop_worst(self) -> list[Path]:
        """With a monitor: forget all but the best ``save_top_k`` scores; return the files to delete."""
        if self.save_top_k == -1:
            return []
        ranked = sorted(self.scores, key=lambda name: self.scores[name], reverse=self.mode == "max")
        for name in ranked[self.save_top_k :]:
            del self.scores[name]
        return [self.dirpath / name for name in ranked[self.save_top_k :]]
