"""The design document's import path, ``from smart_trainer import train_relentless``, for its snippet."""

from neuro_gym.smart_trainer import train_relentless

__all__ = ["train_relentless"]
