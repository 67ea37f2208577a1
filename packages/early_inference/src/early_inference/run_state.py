"""The state of one training run that a checkpoint holds, and how it is saved and restored."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from early_inference.early_inference_model import EarlyInferenceModel
from trainkit import CheckpointError, EarlyStopping

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
        if state["identity"] != self.identity:
            raise CheckpointError(f"{source}: written by a run with another config, seed or dataset; use a new run dir")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.stopper:
            self.stopper.load_state_dict(state["early_stopping"])
        self.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.best_state, self.best_sum, self.history = state["best_model"], state["best_sum"], state["history"]
        self.epoch, self.steps, self.elapsed, self.train_s = (
            state["epoch"],
            state["steps"],
            state["elapsed"],
            state["train_s"],
        )
