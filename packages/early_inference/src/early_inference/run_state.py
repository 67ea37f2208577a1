"""The state of one training run that a checkpoint holds, and how it is saved and restored."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from early_inference.early_inference_model import EarlyInferenceModel
from trainkit import CheckpointError, EarlyStopping, require

__all__ = ["RunState"]


@dataclass
class RunState:
    """Everything a checkpoint restores, and the step budget."""

    model: EarlyInferenceModel
    optimizer: torch.optim.Optimizer
    scheduler: Any
    stopper: EarlyStopping | None
    shuffle: torch.Generator
    identity: dict[str, Any]
    total_steps: int
    epoch: int = 0
    steps: int = 0
    elapsed: float = 0.0
    train_s: float = 0.0
    best_sum: float = math.inf
    best_state: dict[str, Any] | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def state(self, normalizer) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "early_stopping": self.stopper.state_dict() if self.stopper else None,
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best_model": self.best_state,
            "best_sum": self.best_sum,
            "history": self.history,
            "epoch": self.epoch,
            "steps": self.steps,
            "elapsed": self.elapsed,
            "train_s": self.train_s,
            "normalizer": [normalizer[0].tolist(), normalizer[1].tolist()],
        }

    def restore(self, state: Mapping[str, Any], source: Path) -> None:
        """Continue from ``state``; a foreign, mistyped or mismatched checkpoint is a one-line CheckpointError."""
        if require(state, "identity", dict, source=source) != self.identity:
            raise CheckpointError(f"{source}: written by a run with another config, seed or dataset; use a new run dir")
        try:
            self.model.load_state_dict(require(state, "model", dict, source=source))
            self.optimizer.load_state_dict(require(state, "optimizer", dict, source=source))
            self.scheduler.load_state_dict(require(state, "scheduler", dict, source=source))
            if self.stopper:
                self.stopper.load_state_dict(require(state, "early_stopping", dict, source=source))
            self.shuffle.set_state(require(state, "shuffle_rng", torch.Tensor, source=source))
            torch.set_rng_state(require(state, "torch_rng", torch.Tensor, source=source))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{source}: does not fit this run ({str(exc).splitlines()[0][:160]})") from None
        self.best_state = require(state, "best_model", (dict, type(None)), source=source)
        self.best_sum = require(state, "best_sum", float, source=source)
        self.history = require(state, "history", list, source=source)
        self.epoch = require(state, "epoch", int, source=source)
        self.steps = require(state, "steps", int, source=source)
        self.elapsed = require(state, "elapsed", float, source=source)
        self.train_s = require(state, "train_s", float, source=source)
