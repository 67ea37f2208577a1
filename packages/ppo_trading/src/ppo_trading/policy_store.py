"""Policies stored as tensors: a trainkit checkpoint of the ``state_dict`` plus a JSON config.

SB3's ``.zip`` format unpickles ``:serialized:`` fields on load, so a model file planted in a results
folder would run code. Here a model file holds only tensors, numbers and one JSON string; loading
rebuilds ``RecurrentPPO`` (or the bare policy) from the validated config and copies the weights in,
with ``torch.load(weights_only=True)`` underneath. Paths that progress files name are relative to the
run folder and are refused when they resolve outside it; a file whose sha256 differs from the one
recorded when it was written is refused before it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.utils import FloatSchedule

from trainkit import CheckpointError, load_checkpoint, require, save_checkpoint

__all__ = [
    "FORMAT",
    "build_model",
    "check_policy_file",
    "file_sha256",
    "load_policy",
    "load_warm_model",
    "policy_config",
    "resolve_inside",
    "save_policy",
    "verify_policy_file",
]

FORMAT = "ppo_trading.policy/1"
# Constructor arguments a config may carry, with their types; nothing else is accepted.
HYPERPARAMETERS = {
    "n_steps": int,
    "batch_size": int,
    "gamma": float,
    "learning_rate": float,
    "n_epochs": int,
    "ent_coef": float,
    "clip_range": float,
}
NETWORK_KEYS = {"lstm_hidden_size": int, "n_lstm_layers": int}
# Every size a stored config may ask for, checked before anything is allocated (a planted config asking for
# an LSTM of 3e6 units and 1,000 layers would otherwise try to allocate 144 TB). This package's network is
# LSTM 64 x 1, heads [64], 19 observations, 3 actions, 16 x 16 steps, batch 256: the bounds leave room.
SIZE_BOUNDS = {
    "lstm_hidden_size": 4_096,
    "n_lstm_layers": 8,
    "net_arch width": 4_096,
    "net_arch depth": 8,
    "observation size": 4_096,
    "actions": 16,
    "n_steps": 1_000_000,
    "batch_size": 1_000_000,
    "n_epochs": 1_000,
}


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_inside(run_dir: str | os.PathLike[str], relative: object) -> Path:
    """``run_dir / relative`` if it stays inside ``run_dir`` (symlinks followed), else a CheckpointError."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        raise CheckpointError(f"{run_dir}: progress names {relative!r}, not a path relative to the run folder")
    root = Path(run_dir).resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise CheckpointError(f"{run_dir}: progress names {relative!r}, which is outside the run folder; refused")
    return target


def policy_config(model: RecurrentPPO, network: dict[str, Any]) -> dict[str, Any]:
    """What :func:`build_model` needs to rebuild ``model``: spaces, network and constructor hyperparameters."""
    obs, act = model.observation_space, model.action_space
    if not isinstance(obs, spaces.Box) or not isinstance(act, spaces.Discrete):
        raise TypeError("policy_config supports a Box observation and a Discrete action space")
    clip = model.clip_range(1.0) if callable(model.clip_range) else model.clip_range
    values = {
        "n_steps": model.n_steps,
        "batch_size": model.batch_size,
        "gamma": model.gamma,
        "learning_rate": model.lr_schedule(1.0),
        "n_epochs": model.n_epochs,
        "ent_coef": model.ent_coef,
        "clip_range": clip,
    }
    return {
        "format": FORMAT,
        "policy": "MlpLstmPolicy",
        "network": network,
        "observation_space": {"shape": list(obs.shape), "low": float(obs.low.min()), "high": float(obs.high.max())},
        "action_space": {"n": int(act.n)},
        "hyperparameters": {k: HYPERPARAMETERS[k](v) for k, v in values.items()},
    }


def save_policy(model: RecurrentPPO, path: str | os.PathLike[str], network: dict[str, Any]) -> str:
    """Write the policy (and its optimizer state, for warm starts) atomically; return the file's sha256."""
    state = {
        "config_json": json.dumps(policy_config(model, network), sort_keys=True),
        "policy": model.policy.state_dict(),
        "optimizer": model.policy.optimizer.state_dict(),
    }
    save_checkpoint(path, state, package="ppo_trading", kind="policy")
    return file_sha256(path)


def _check_sizes(config: dict[str, Any], path: Path) -> None:
    """A one-line CheckpointError for the first size above :data:`SIZE_BOUNDS`."""
    network, hyper = config["network"], config["hyperparameters"]
    arch = network["net_arch"]
    sizes = {
        "lstm_hidden_size": network["lstm_hidden_size"],
        "n_lstm_layers": network["n_lstm_layers"],
        "net_arch width": max((n for k in arch for n in arch[k]), default=0),
        "net_arch depth": max(len(arch[k]) for k in arch),
        "observation size": config["observation_space"]["shape"][0],
        "actions": config["action_space"]["n"],
        **{k: hyper[k] for k in ("n_steps", "batch_size", "n_epochs")},
    }
    for name, value in sizes.items():
        low = 0 if name.startswith("net_arch") else 1
        if not low <= value <= SIZE_BOUNDS[name]:
            raise CheckpointError(
                f"{path}: the stored config asks for {name} {value:g}, outside [{low}, {SIZE_BOUNDS[name]}]; refused"
            )
    box = config["observation_space"]
    if not all(isinstance(box[k], (int, float)) and np.isfinite(box[k]) for k in ("low", "high")):
        raise CheckpointError(f"{path}: the stored observation bounds are not finite numbers; refused")


def _check_config(text: object, path: Path) -> dict[str, Any]:
    """Parse and type-check the stored config; any surprise is a one-line CheckpointError."""
    try:
        config = json.loads(text) if isinstance(text, str) else None
        assert isinstance(config, dict) and config.get("format") == FORMAT and config.get("policy") == "MlpLstmPolicy"
        hyper = config["hyperparameters"]
        assert set(hyper) == set(HYPERPARAMETERS)
        assert all(isinstance(hyper[k], (int, float)) and not isinstance(hyper[k], bool) for k in hyper)
        network = config["network"]
        assert set(network) == {*NETWORK_KEYS, "net_arch"}
        assert all(isinstance(network[k], int) and network[k] > 0 for k in NETWORK_KEYS)
        arch = network["net_arch"]
        assert set(arch) == {"pi", "vf"} and all(isinstance(n, int) and n > 0 for k in arch for n in arch[k])
        shape, n = config["observation_space"]["shape"], config["action_space"]["n"]
        assert len(shape) == 1 and isinstance(shape[0], int) and shape[0] > 0 and isinstance(n, int) and n > 1
    except (AssertionError, KeyError, TypeError, AttributeError, ValueError):
        raise CheckpointError(f"{path}: not a ppo_trading policy file (missing or malformed config)") from None
    _check_sizes(config, path)
    return config


def _spaces(config: dict[str, Any]) -> tuple[spaces.Box, spaces.Discrete]:
    box = config["observation_space"]
    obs = spaces.Box(float(box["low"]), float(box["high"]), shape=tuple(box["shape"]), dtype=np.float32)
    return obs, spaces.Discrete(config["action_space"]["n"])


def _read(path: str | os.PathLike[str], expected_sha256: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    path = Path(path)
    if expected_sha256 is not None:
        verify_policy_file(path, expected_sha256)
    state = load_checkpoint(path, package="ppo_trading", kind="policy")
    require(state, "policy", dict, source=path)
    return _check_config(require(state, "config_json", str, source=path), path), state


def check_policy_file(path: str | os.PathLike[str], expected_sha256: str) -> None:
    """Hash, format and every stored size checked, nothing built: a resumed run calls it before any work."""
    _read(path, expected_sha256)


def verify_policy_file(path: str | os.PathLike[str], expected_sha256: str) -> None:
    """A CheckpointError unless ``path`` exists and hashes to ``expected_sha256``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model file missing")
    if file_sha256(path) != expected_sha256:
        raise CheckpointError(f"{path}: sha256 differs from the one recorded when it was written; refused")


def _copy_weights(target: torch.nn.Module, weights: dict[str, Any], path: Path) -> None:
    try:
        target.load_state_dict(weights, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: weights do not fit the stored config ({first[:160]})") from None


def load_policy(
    path: str | os.PathLike[str], expected_sha256: str | None = None, device: str = "cpu"
) -> RecurrentActorCriticPolicy:
    """The bare policy (what evaluation needs), rebuilt from the stored config, in eval mode."""
    config, state = _read(path, expected_sha256)
    observation_space, action_space = _spaces(config)
    policy = RecurrentActorCriticPolicy(
        observation_space,
        action_space,
        FloatSchedule(config["hyperparameters"]["learning_rate"]),
        **config["network"],
    ).to(device)
    _copy_weights(policy, state["policy"], Path(path))
    policy.set_training_mode(False)
    return policy


def build_model(
    env: Any, config: dict[str, Any], seed: int, device: str, tensorboard_log: str | None = None
) -> RecurrentPPO:
    """A fresh ``RecurrentPPO`` with the config's network and hyperparameters on ``env``; with
    ``tensorboard_log`` SB3 writes its own scalars (losses, learning rate, fps) under that folder."""
    return RecurrentPPO(
        "MlpLstmPolicy",
        env,
        policy_kwargs=config["network"],
        seed=seed,
        device=device,
        verbose=0,
        tensorboard_log=tensorboard_log,
        **config["hyperparameters"],
    )


def load_warm_model(
    path: str | os.PathLike[str],
    expected_sha256: str,
    env: Any,
    hyperparameters: dict[str, float],
    seed: int,
    device: str,
    tensorboard_log: str | None = None,
) -> RecurrentPPO:
    """Warm start: a model rebuilt on ``env`` with new ``hyperparameters``, the stored weights and Adam state.

    The optimizer's learning rate is reset from ``lr_schedule`` at every update, so the new rate applies.
    """
    config, state = _read(path, expected_sha256)
    observation_space, action_space = _spaces(config)
    if env.observation_space.shape != observation_space.shape or env.action_space != action_space:
        raise CheckpointError(f"{path}: stored spaces do not match this data's environment")
    merged = {**config, "hyperparameters": {**config["hyperparameters"], **hyperparameters}}
    model = build_model(env, merged, seed, device, tensorboard_log)
    _copy_weights(model.policy, state["policy"], Path(path))
    optimizer = state.get("optimizer")
    if isinstance(optimizer, dict):
        try:
            model.policy.optimizer.load_state_dict(optimizer)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: optimizer state does not fit ({type(exc).__name__})") from None
    return model
