"""Training profiles: the original's settings and the design document's three optimized ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from neuro_gym.neuron import OPTIMIZED_SCHEDULE, ORIGINAL_SCHEDULE, PlasticitySchedule
from trainkit import ConfigError

__all__ = ["PROFILES", "TrainingProfile", "get_profile"]


@dataclass(frozen=True)
class TrainingProfile:
    """Everything that differs between original and optimized training; the code is shared."""

    name: str
    num_time_steps: int
    eval_frequency: int
    early_stop_patience: int
    teacher_fade: float
    curriculum_epochs: int
    curriculum_drop: float
    schedule: PlasticitySchedule = field(default=OPTIMIZED_SCHEDULE)

    def gym_kwargs(self) -> dict[str, Any]:
        return {
            "num_time_steps": self.num_time_steps,
            "teacher_fade": self.teacher_fade,
            "curriculum_epochs": self.curriculum_epochs,
            "curriculum_drop": self.curriculum_drop,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_OPTIMIZED = {"teacher_fade": 0.85, "curriculum_epochs": 50, "curriculum_drop": 0.15, "schedule": OPTIMIZED_SCHEDULE}

PROFILES: dict[str, TrainingProfile] = {
    # The original code's settings: 5 steps, homeostasis and consolidation every step, evaluation every epoch.
    "original": TrainingProfile(
        "original",
        num_time_steps=5,
        eval_frequency=1,
        early_stop_patience=50,
        teacher_fade=0.9,
        curriculum_epochs=100,
        curriculum_drop=0.10,
        schedule=ORIGINAL_SCHEDULE,
    ),
    # The design document's table ("Configuration Tips").
    "max_speed": TrainingProfile(
        "max_speed", num_time_steps=2, eval_frequency=10, early_stop_patience=30, **_OPTIMIZED
    ),
    "balanced": TrainingProfile("balanced", num_time_steps=3, eval_frequency=5, early_stop_patience=50, **_OPTIMIZED),
    "max_accuracy": TrainingProfile(
        "max_accuracy", num_time_steps=5, eval_frequency=1, early_stop_patience=100, **_OPTIMIZED
    ),
}


def get_profile(name: str) -> TrainingProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; choose from {sorted(PROFILES)}") from None
