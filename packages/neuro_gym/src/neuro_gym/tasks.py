"""Tasks as ``task_data`` dicts, their validation, and the order-blind control.

``task_data`` = ``{"inputs": (N, tokens, channels) or (N, channels) in [0, 1], "labels": (N,) ints,
"num_classes": int, "name": str}``, optionally with held-out ``"eval_inputs"``/``"eval_labels"``.
Each token is presented for ``num_time_steps`` steps; a static pattern is a single token.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuro_gym.circuit import CircuitConfig
from neuro_gym.neuron import STDPParams
from trainkit import DataError

__all__ = ["SEQUENCE_SETS", "circuit_config_for", "order_blind", "sequence_task", "validate_task_data", "xor_task"]

# Five 3-channel sets over 6 channels; each set in two orders gives the 10 sequence classes.
SEQUENCE_SETS: tuple[tuple[int, int, int], ...] = ((0, 1, 2), (3, 4, 5), (0, 2, 4), (1, 3, 5), (0, 3, 5))


def xor_task() -> dict[str, Any]:
    """The 4 XOR samples with ON/OFF coding: bit b becomes the two channels (b, 1 - b), so no input is silent."""
    bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    inputs = np.stack([bits[:, 0], 1 - bits[:, 0], bits[:, 1], 1 - bits[:, 1]], axis=1)
    labels = (bits[:, 0] != bits[:, 1]).astype(np.int64)
    return {"name": "xor", "inputs": inputs[:, None, :], "labels": labels, "num_classes": 2}


def _sequence_samples(rng: np.random.Generator, per_class: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    orders = [order for s in SEQUENCE_SETS for order in (s, s[::-1])]
    labels = np.repeat(np.arange(len(orders)), per_class)
    inputs = np.zeros((len(labels), 3, 6), dtype=np.float32)
    for row, label in enumerate(labels):
        inputs[row, np.arange(3), orders[label]] = 1.0
    background = rng.random(inputs.shape) < noise
    inputs[background] = 1.0
    return inputs, labels


def sequence_task(seed: int = 0, per_class: int = 10, noise: float = 0.10) -> dict[str, Any]:
    """10 classes that differ only in token order (5 channel sets x 2 orders), 6 channels x 3 tokens.

    Every token/channel cell that is off turns on with probability ``noise``. ``per_class`` samples per
    class for training (100 by default) and as many fresh held-out samples for evaluation.
    """
    if not 0.0 <= noise < 1.0:
        raise DataError(f"noise must be in [0, 1), got {noise}")
    rng = np.random.default_rng(seed)
    inputs, labels = _sequence_samples(rng, per_class, noise)
    eval_inputs, eval_labels = _sequence_samples(rng, per_class, noise)
    return {
        "name": "sequence",
        "inputs": inputs,
        "labels": labels,
        "eval_inputs": eval_inputs,
        "eval_labels": eval_labels,
        "num_classes": len(SEQUENCE_SETS) * 2,
    }


def order_blind(task_data: dict[str, Any]) -> dict[str, Any]:
    """The same task with the order removed: every token shows the mean of all tokens (summed counts / L)."""
    blind = dict(task_data)
    for key in ("inputs", "eval_inputs"):
        if key in task_data:
            x = np.asarray(task_data[key], dtype=np.float32)
            blind[key] = np.repeat(x.mean(axis=1, keepdims=True), x.shape[1], axis=1)
    blind["name"] = f"{task_data.get('name', 'task')}-order-blind"
    return blind


def _checked_pair(task_data: dict[str, Any], x_key: str, y_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        inputs = np.asarray(task_data[x_key], dtype=np.float32)
        labels_raw = np.asarray(task_data[y_key])
    except (TypeError, ValueError) as exc:
        raise DataError(f"task_data[{x_key!r}]/[{y_key!r}] are not numeric arrays ({exc})") from None
    if inputs.ndim == 2:
        inputs = inputs[:, None, :]
    if inputs.ndim != 3 or min(inputs.shape) == 0:
        raise DataError(f"task_data[{x_key!r}] must be (N, channels) or (N, tokens, channels), got {inputs.shape}")
    if not np.isfinite(inputs).all():
        raise DataError(f"task_data[{x_key!r}] holds NaN or infinite values")
    if inputs.min() < 0.0 or inputs.max() > 1.0:
        raise DataError(f"task_data[{x_key!r}] must lie in [0, 1], got [{inputs.min():.3g}, {inputs.max():.3g}]")
    if labels_raw.ndim != 1 or labels_raw.shape[0] != inputs.shape[0]:
        raise DataError(f"task_data[{y_key!r}] must have shape ({inputs.shape[0]},), got {labels_raw.shape}")
    if labels_raw.dtype.kind == "f" and not np.all(np.isfinite(labels_raw) & (labels_raw == np.round(labels_raw))):
        raise DataError(f"task_data[{y_key!r}] must hold whole class numbers")
    if labels_raw.dtype.kind not in "iuf":
        raise DataError(f"task_data[{y_key!r}] must be integers, got dtype {labels_raw.dtype}")
    labels = labels_raw.astype(np.int64)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"task_data[{y_key!r}] must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return inputs, labels


MAX_CLASSES = 1000


def validate_task_data(task_data: Any) -> dict[str, Any]:
    """Return a clean copy (float32 (N, tokens, channels) inputs, int64 labels) or raise :class:`DataError`."""
    if not isinstance(task_data, dict):
        raise DataError(f"task_data must be a dict, got {type(task_data).__name__}")
    missing = {"inputs", "labels"} - set(task_data)
    if missing:
        raise DataError(f"task_data lacks {sorted(missing)}")
    raw_labels = np.asarray(task_data["labels"])
    if raw_labels.dtype.kind not in "iu":
        raise DataError(f"labels must be integers (class indices), got dtype {raw_labels.dtype}")
    declared = np.asarray(task_data.get("num_classes", (raw_labels.max() + 1) if raw_labels.size else 0))
    if declared.dtype.kind not in "iu" or declared.size != 1:
        raise DataError(f"num_classes must be one integer, got {declared.dtype} of shape {declared.shape}")
    num_classes = int(declared)
    if not 2 <= num_classes <= MAX_CLASSES:
        # one readout neuron per class, and the readout's weights are (hidden, classes) per time step
        raise DataError(f"task_data needs between 2 and {MAX_CLASSES} classes, got {num_classes}")
    inputs, labels = _checked_pair(task_data, "inputs", "labels", num_classes)
    clean = {"name": str(task_data.get("name", "task")), "num_classes": num_classes, "inputs": inputs, "labels": labels}
    has_eval = ("eval_inputs" in task_data, "eval_labels" in task_data)
    if any(has_eval) and not all(has_eval):
        raise DataError("task_data needs both eval_inputs and eval_labels, or neither")
    if all(has_eval):
        eval_inputs, eval_labels = _checked_pair(task_data, "eval_inputs", "eval_labels", num_classes)
        if eval_inputs.shape[1:] != inputs.shape[1:]:
            raise DataError(f"eval_inputs per-sample shape {eval_inputs.shape[1:]} differs from {inputs.shape[1:]}")
        clean["eval_inputs"], clean["eval_labels"] = eval_inputs, eval_labels
    return clean


def circuit_config_for(task_data: dict[str, Any], num_time_steps: int) -> CircuitConfig:
    """The circuit each task uses: XOR 32 hidden neurons; multi-token tasks 256 hidden neurons that see
    the input through axonal delays of 0, 1 and 2 token durations, so one hidden neuron can combine tokens."""
    task = validate_task_data(task_data)
    _, tokens, channels = task["inputs"].shape
    if tokens == 1:
        return CircuitConfig(
            channels, 32, task["num_classes"], num_time_steps=num_time_steps, stdp=STDPParams(a_plus=0.05)
        )
    delays = tuple(range(0, tokens * num_time_steps, num_time_steps))
    return CircuitConfig(
        channels,
        256,
        task["num_classes"],
        num_time_steps=num_time_steps,
        input_delays=delays,
        stdp=STDPParams(a_plus=0.01, w_min=-1.0, lr_half_life=75.0, lr_floor=0.02),
    )
