"""The trainer's options: defaults, validation, and which ones a resumed run must share."""

from __future__ import annotations

from typing import Any

from trainkit import ConfigError

__all__ = ["DEFAULT_CONFIG", "SCHEDULE_KEYS", "create_training_config"]

DEFAULT_CONFIG: dict[str, Any] = {
    "learning_rate": 1e-3,
    "max_epochs": 100,
    "min_lr": 1e-6,
    "weight_decay": 1e-4,
    "batch_size": 32,
    "early_stopping": True,
    "patience": 20,
    "min_delta": 1e-6,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "optimizer": "adam",
    "schedule": "cosine",
    "momentum": 0.0,  # SGD only
    # Adam moves a parameter by about lr per step; g_av must travel from 0 to 1.
    "scalar_lr_multiplier": 10.0,
    "matrix_lr_multiplier": 0.01,
    # The noise is on only while training, so the loss always rewards less of it: training the rates
    # would lower them to the bound and say nothing about the attractor (see the README).
    "train_noise_rates": False,
    # The per-neuron correction for a heterogeneous ring. On a homogeneous one it can only learn noise,
    # which breaks the ring's symmetry and makes the bump drift, so it is off unless asked for.
    "train_excitability": False,
    "clip_gradients": True,
    "max_grad_norm": 1.0,
    "tbptt_steps": 0,  # 0: backpropagate through whole trials
    "apply_constraints": True,
    "n_sequences": 320,
    "validation_sequences": 64,
    "test_sequences": 128,
    "data_seed": 0,
    "seed": 0,
    "checkpoint_dir": None,
    "save_checkpoints": True,
    "resume": True,
    "restore_best": True,
    # Count the starting weights as a candidate for the best validation loss, so training never hands
    # back a network that is worse on validation than the one it started from.
    "select_start": False,
    "target_error_deg": 2.0,
    "log_interval": 10,
    "tensorboard_dir": None,  # also write each epoch's scalars there (needs the tensorboard extra)
    "device": "cpu",
}
SCHEDULE_KEYS = (
    "optimizer",
    "schedule",
    "learning_rate",
    "min_lr",
    "max_epochs",
    "scalar_lr_multiplier",
    "matrix_lr_multiplier",
    "train_noise_rates",
    "train_excitability",
    "momentum",
    "tbptt_steps",
)


def create_training_config(**overrides: Any) -> dict[str, Any]:
    """The default configuration merged with ``overrides``; unknown keys and impossible values are refused."""
    unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
    if unknown:
        raise ConfigError(f"unknown training option(s) {unknown}; known: {sorted(DEFAULT_CONFIG)}")
    config = {**DEFAULT_CONFIG, **overrides}
    positive = ("learning_rate", "max_epochs", "batch_size", "n_sequences", "validation_sequences", "max_grad_norm")
    for key in positive:
        if not config[key] > 0:
            raise ConfigError(f"{key} must be > 0, got {config[key]!r}")
    if not 0 <= config["min_lr"] <= config["learning_rate"]:
        raise ConfigError(f"need 0 <= min_lr <= learning_rate, got {config['min_lr']} and {config['learning_rate']}")
    if not 0 <= config["momentum"] < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {config['momentum']!r}")
    if not isinstance(config["tbptt_steps"], int) or config["tbptt_steps"] < 0:
        raise ConfigError(f"tbptt_steps must be an integer >= 0, got {config['tbptt_steps']!r}")
    if config["weight_decay"] < 0 or config["patience"] < 0:
        raise ConfigError("weight_decay and patience must be >= 0")
    if config["scalar_lr_multiplier"] <= 0 or config["matrix_lr_multiplier"] < 0:
        raise ConfigError("need scalar_lr_multiplier > 0 and matrix_lr_multiplier >= 0")
    if config["optimizer"] not in ("adam", "sgd"):
        raise ConfigError(f"optimizer must be 'adam' or 'sgd', got {config['optimizer']!r}")
    if config["schedule"] not in ("cosine", "constant"):
        raise ConfigError(f"schedule must be 'cosine' or 'constant', got {config['schedule']!r}")
    if config["batch_size"] > config["n_sequences"]:
        raise ConfigError(f"batch_size {config['batch_size']} exceeds n_sequences {config['n_sequences']}")
    return config
