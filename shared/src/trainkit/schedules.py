"""Learning-rate schedules, budgets and cadences; each has a state dict so a resumed run continues it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LinearLR, ReduceLROnPlateau

__all__ = [
    "EvalCadence",
    "Phase",
    "PhaseSchedule",
    "WarmupCosine",
    "WarmupThenPlateau",
    "geometric_budget",
]


class WarmupThenPlateau:
    """Linear warmup for ``warmup_epochs``, then ``ReduceLROnPlateau`` on the validation loss.

    Epoch 0 runs at ``lr / warmup_epochs`` (never 0) and epoch ``warmup_epochs - 1`` at the full
    rate. ``SequentialLR`` cannot hold ``ReduceLROnPlateau``, so the handoff is explicit here.
    Call :meth:`step` once at the end of every epoch with that epoch's validation loss.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_epochs: int,
        factor: float,
        patience: int,
        min_lr: float = 0.0,
        threshold_mode: Literal["abs", "rel"] = "abs",
        threshold: float = 1e-4,
    ) -> None:
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.optimizer = optimizer
        self.warmup_epochs = warmup_epochs
        self.completed_epochs = 0
        self.warmup = (
            LinearLR(optimizer, start_factor=1.0 / warmup_epochs, end_factor=1.0, total_iters=warmup_epochs - 1)
            if warmup_epochs > 1
            else None
        )
        self.plateau = ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=factor,
            patience=patience,
            min_lr=min_lr,
            threshold=threshold,
            threshold_mode=threshold_mode,
        )

    @property
    def in_warmup(self) -> bool:
        return self.completed_epochs < self.warmup_epochs

    def step(self, val_loss: float) -> None:
        """Advance one epoch. During warmup the loss is ignored."""
        self.completed_epochs += 1
        if self.completed_epochs < self.warmup_epochs:
            assert self.warmup is not None
            self.warmup.step()
        else:
            self.plateau.step(val_loss)

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "completed_epochs": self.completed_epochs,
            "warmup": self.warmup.state_dict() if self.warmup is not None else None,
            "plateau": self.plateau.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.completed_epochs = int(state["completed_epochs"])
        if self.warmup is not None and state["warmup"] is not None:
            self.warmup.load_state_dict(state["warmup"])
        self.plateau.load_state_dict(state["plateau"])


class WarmupCosine(LambdaLR):
    """Linear warmup to the base rate, then cosine annealing down to ``min_lr`` at ``max_epochs``.

    Step once per epoch. Past ``max_epochs`` the rate stays at ``min_lr``.
    """

    def __init__(self, optimizer: Optimizer, warmup_epochs: int, max_epochs: int, min_lr: float = 0.0) -> None:
        if not 0 <= warmup_epochs < max_epochs:
            raise ValueError(f"need 0 <= warmup_epochs < max_epochs, got {warmup_epochs} and {max_epochs}")
        self.warmup_epochs = warmup_epochs
        self.max_epochs = max_epochs
        self.min_lr = min_lr
        base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        super().__init__(optimizer, [self._factor_for(base) for base in base_lrs])

    def _factor_for(self, base_lr: float):
        floor = min(self.min_lr / base_lr, 1.0) if base_lr > 0 else 0.0

        def factor(epoch: int) -> float:
            if epoch < self.warmup_epochs:
                return (epoch + 1) / self.warmup_epochs
            span = self.max_epochs - self.warmup_epochs
            progress = min((epoch - self.warmup_epochs) / span, 1.0)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        return factor


def geometric_budget(start: float, rate: float, minimum: float, iteration: int) -> int:
    """``max(minimum, start * rate**iteration)``, rounded: e.g. adaptive timesteps per iteration."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return round(max(minimum, start * rate**iteration))


@dataclass(frozen=True)
class Phase:
    """Hyperparameters used while training progress is below ``until`` (a fraction in (0, 1])."""

    name: str
    until: float
    params: dict[str, Any] = field(default_factory=dict)


class PhaseSchedule:
    """Maps training progress in [0, 1] to the hyperparameters of the phase it falls in."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        if not phases:
            raise ValueError("PhaseSchedule needs at least one phase")
        bounds = [phase.until for phase in phases]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds) or bounds[-1] < 1.0:
            raise ValueError(f"phase bounds must increase strictly and end at >= 1.0, got {bounds}")
        self.phases = list(phases)

    def phase_at(self, progress: float) -> Phase:
        for phase in self.phases:
            if progress < phase.until:
                return phase
        return self.phases[-1]

    def at(self, progress: float) -> dict[str, Any]:
        """The hyperparameters for this fraction of training (a copy)."""
        return dict(self.phase_at(progress).params)

    def state_dict(self) -> dict[str, Any]:
        return {"phases": [asdict(phase) for phase in self.phases]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["phases"]) != [asdict(phase) for phase in self.phases]:
            raise ValueError("the checkpoint was trained with a different phase schedule")


class EvalCadence:
    """Evaluate in each of the first ``always_first`` epochs, then every ``every`` epochs (1-based)."""

    def __init__(self, every: int = 5, always_first: int = 10) -> None:
        if every < 1 or always_first < 0:
            raise ValueError(f"need every >= 1 and always_first >= 0, got {every} and {always_first}")
        self.every = every
        self.always_first = always_first

    def should_evaluate(self, epoch: int, is_last: bool = False) -> bool:
        return is_last or epoch <= self.always_first or epoch % self.every == 0

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "always_first": self.always_first}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.every = int(state["every"])
        self.always_first = int(state["always_first"])
