"""RLlib learner state stored as tensors, so resuming never unpickles a file from the run folder.

RLlib's own ``save_to_path`` / ``restore_from_path`` write and read ``state.pkl`` with cloudpickle: a file
planted in ``--out/checkpoint`` would run code on resume. Here the learner's RLModule weights and optimizer
state (nested dicts of numpy arrays and numbers) go through a trainkit checkpoint and
``torch.load(weights_only=True)``; the algorithm itself is rebuilt from the command's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm import Algorithm

from trainkit import load_checkpoint, save_checkpoint

__all__ = ["STATE_FILE", "restore_learner_state", "save_learner_state"]

STATE_FILE = "learner_state.pt"
COMPONENTS = ("learner/rl_module", "learner/optimizer")


def _to_tensors(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _to_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_tensors(item) for item in value]
    return value


def _to_arrays(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: _to_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_arrays(item) for item in value]
    return value


def save_learner_state(algo: Algorithm, folder: Path, iteration: int) -> Path:
    """Write the learner's weights and optimizer state to ``folder/STATE_FILE`` atomically."""
    state = algo.learner_group.get_state(components=list(COMPONENTS))
    return save_checkpoint(folder / STATE_FILE, {"learner": _to_tensors(state), "iteration": iteration})


def restore_learner_state(algo: Algorithm, folder: Path) -> int:
    """Load ``folder/STATE_FILE`` into ``algo`` (learner and env runners); return the iterations it holds."""
    state = load_checkpoint(folder / STATE_FILE)
    algo.learner_group.set_state(_to_arrays(state["learner"]))
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
    return int(state["iteration"])
