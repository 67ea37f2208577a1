"""Train one ``EarlyInferenceModel`` for one prefix length; the loop reads top to bottom.

``CONFIG`` holds the design document's new settings and ``ORIGINAL_CONFIG`` the old ones; original vs
optimized is only a choice between these dicts. The schedule is ``trainkit.WarmupThenPlateau``
(linear warmup, then ReduceLROnPlateau on the validation NLL), never ``SequentialLR``, which cannot
hold ReduceLROnPlateau. A run with ``run_dir`` checkpoints every ``checkpoint_every`` epochs and the
same call resumes it, schedule and early-stopping state included.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from early_inference import simulators
from early_inference.early_inference_model import EarlyInferenceModel, gaussian_nll_loss, time_channels
from early_inference.evaluate import fit_variance_scale
from early_inference.generate_early_inference_data import EarlyInferenceData
from trainkit import (
    BatchedCSVLogger,
    CheckpointError,
    ConfigError,
    EarlyStopping,
    ModelCheckpoint,
    Stopwatch,
    WarmupThenPlateau,
    load_checkpoint,
    progress_bar,
    resolve_device,
    seed_everything,
)

__all__ = [
    "CONFIG",
    "FLATTEN_CONFIG",
    "MODEL_PROFILES",
    "ORIGINAL_CONFIG",
    "PreparedSplit",
    "TrainResult",
    "build_model_and_optimizer",
    "load_trained_model",
    "optimization_step",
    "predict",
    "prepare_split",
    "train",
    "validation_variance_scale",
]

# The design document's settings ("optimized").
CONFIG: dict[str, Any] = {
    "pooling": "weighted",
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "grad_clip_norm": 5.0,
    "scheduler_factor": 0.7,
    "scheduler_patience": 10,
    "scheduler_min_lr": 1e-6,
    "warmup_epochs": 5,
    "early_stopping_patience": 30,
    "var_reg": 0.0,
}

# The settings before the change ("original"): average pooling, no warmup, no weight decay.
ORIGINAL_CONFIG: dict[str, Any] = {
    **CONFIG,
    "pooling": "avg",
    "batch_size": 128,
    "lr": 5e-4,
    "weight_decay": 0.0,
    "grad_clip_norm": 1.0,
    "scheduler_factor": 0.5,
    "scheduler_patience": 5,
    "scheduler_min_lr": 0.0,
    "warmup_epochs": 0,
}

# An extra arm, outside the A/B: CONFIG with a position-aware readout (a linear map over every time
# step's TCN features) instead of a position-blind sum over time.
FLATTEN_CONFIG: dict[str, Any] = {**CONFIG, "pooling": "flatten"}

# Network sizes. "bench" is the CPU profile from the research notes; "full" is the original's default.
MODEL_PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"channels": [16, 16, 16, 16], "kernel_size": 3, "mlp_hidden": [32, 16], "head_hidden": 32},
    "bench": {"channels": [32, 32, 32, 32, 32], "kernel_size": 3, "mlp_hidden": [64, 32], "head_hidden": 64},
    "full": {"channels": [64, 128, 256], "kernel_size": 3, "mlp_hidden": [128, 64], "head_hidden": 128},
}

LOG_FIELDS = ["epoch", "lr", "train_loss", "val_nll", "elapsed_s", "samples_seen"]


@dataclass
class PreparedSplit:
    """Network inputs for one split and prefix: x (n, 3, T), known (n, k), target (n, p) in z-units."""

    x: torch.Tensor
    known: torch.Tensor
    target: torch.Tensor


def known_normalizer(data: EarlyInferenceData) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the known inputs over the training split."""
    known = data.known["train"]
    return known.mean(axis=0), np.maximum(known.std(axis=0), 1e-12)


def prepare_split(
    data: EarlyInferenceData,
    split: str,
    prefix_length: float,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device | str = "cpu",
) -> PreparedSplit:
    sim = simulators.get(data.config["simulator"])
    obs = torch.as_tensor(sim.network_input(data.obs[split][prefix_length], data.known[split]), dtype=torch.float32)
    clock = time_channels(torch.as_tensor(data.times[prefix_length], dtype=torch.float32))
    x = torch.cat([obs.unsqueeze(1), clock.unsqueeze(0).expand(len(obs), -1, -1)], dim=1).contiguous()
    known = torch.as_tensor((data.known[split] - normalizer[0]) / normalizer[1], dtype=torch.float32)
    target = torch.as_tensor(sim.to_target(data.params[split]), dtype=torch.float32)
    return PreparedSplit(x.to(device), known.to(device), target.to(device))


@torch.inference_mode()
def predict(model: EarlyInferenceModel, split: PreparedSplit, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (target space) for a whole split, in eval mode."""
    model.eval()
    means, variances = [], []
    for start in range(0, len(split.x), batch_size):
        mean, var = model(split.x[start : start + batch_size], split.known[start : start + batch_size])
        means.append(mean)
        variances.append(var)
    return torch.cat(means).cpu().numpy().astype(float), torch.cat(variances).cpu().numpy().astype(float)


@torch.inference_mode()
def validation_nll(model: EarlyInferenceModel, split: PreparedSplit) -> float:
    mean, var = predict(model, split)
    return float(gaussian_nll_loss(torch.as_tensor(mean), torch.as_tensor(var), split.target.cpu().double()))


def validation_variance_scale(
    model: EarlyInferenceModel,
    data: EarlyInferenceData,
    prefix_length: float,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Post-hoc variance multipliers, one per parameter, fitted on the validation split only."""
    sim = simulators.get(data.config["simulator"])
    mean, var = predict(model, prepare_split(data, "val", prefix_length, normalizer, device))
    return fit_variance_scale(mean, var, sim.to_target(data.params["val"]))


@dataclass
class TrainResult:
    model: EarlyInferenceModel
    history: list[dict[str, float]]
    best_val_nll: float
    stop_reason: str
    optimizer_steps: int
    train_seconds: float  # time inside training batches only (for samples/s)
    normalizer: tuple[np.ndarray, np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float | None:
        seen = self.history[-1]["samples_seen"] if self.history else 0
        return seen / self.train_seconds if self.train_seconds > 0 else None

    def time_to_target(self, target_val_nll: float) -> float | None:
        """Training wall time (s) at the end of the first epoch whose validation NLL reached the target."""
        for row in self.history:
            if row["val_nll"] <= target_val_nll:
                return row["elapsed_s"]
        return None


def build_model_and_optimizer(
    n_known: int,
    n_params: int,
    config: Mapping[str, Any],
    model_kwargs: Mapping[str, Any],
    device: str | torch.device = "cpu",
) -> tuple[EarlyInferenceModel, torch.optim.Adam]:
    """The network and its Adam optimizer for a training config (shared by ``train`` and the throughput probe)."""
    model = EarlyInferenceModel(n_known=n_known, n_params=n_params, pooling=config["pooling"], **model_kwargs)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return model, optimizer


def optimization_step(
    model: EarlyInferenceModel,
    optimizer: torch.optim.Optimizer,
    config: Mapping[str, Any],
    x: torch.Tensor,
    known: torch.Tensor,
    target: torch.Tensor,
) -> float:
    """One Gaussian-NLL step with gradient clipping; returns the batch loss."""
    mean, var = model(x, known)
    loss = gaussian_nll_loss(mean, var, target, var_reg=config["var_reg"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip_norm"])
    optimizer.step()
    return loss.item()


def _check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(config) - set(CONFIG)
    missing = set(CONFIG) - set(config)
    if unknown or missing:
        raise ConfigError(f"training config: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    if config["batch_size"] < 1 or config["lr"] <= 0 or config["warmup_epochs"] < 0:
        raise ConfigError("training config needs batch_size >= 1, lr > 0 and warmup_epochs >= 0")
    return dict(config)


def train(
    data: EarlyInferenceData,
    prefix_length: float,
    config: Mapping[str, Any],
    model_kwargs: Mapping[str, Any],
    seed: int,
    max_epochs: int,
    run_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    checkpoint_every: int = 5,
    show_progress: bool = False,
) -> TrainResult:
    """Train on ``data`` for one prefix length; resume from ``run_dir`` when it holds a checkpoint."""
    config = _check_config(config)
    if prefix_length not in data.obs["train"]:
        raise ConfigError(f"prefix length {prefix_length} s is not in this dataset ({data.prefix_lengths})")
    device = resolve_device(device)
    model_kwargs = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in model_kwargs.items()}
    seed_everything(seed)

    normalizer = known_normalizer(data)
    train_split = prepare_split(data, "train", prefix_length, normalizer, device)
    val_split = prepare_split(data, "val", prefix_length, normalizer, device)
    if config["pooling"] == "flatten":  # recorded in the identity, so load_trained_model rebuilds it
        model_kwargs["sequence_length"] = train_split.x.shape[-1]
    n_train, n_params = train_split.target.shape
    model, optimizer = build_model_and_optimizer(train_split.known.shape[1], n_params, config, model_kwargs, device)
    scheduler = WarmupThenPlateau(
        optimizer,
        warmup_epochs=config["warmup_epochs"],
        factor=config["scheduler_factor"],
        patience=config["scheduler_patience"],
        min_lr=config["scheduler_min_lr"],
        threshold_mode="abs",  # the NLL goes negative, where 'rel' thresholds loosen
    )
    stopper = EarlyStopping("val_nll", patience=config["early_stopping_patience"], mode="min")
    shuffle = torch.Generator().manual_seed(seed)
    identity = {
        "config": config,
        "model_kwargs": model_kwargs,
        "prefix_length": float(prefix_length),
        "simulator": data.config["simulator"],
        "data_config": data.config,
        "seed": seed,
    }
    start_epoch, history, best_state, steps, elapsed, train_seconds = 0, [], None, 0, 0.0, 0.0

    checkpoints = ModelCheckpoint(run_dir, keep_last=1) if run_dir else None
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        state = load_checkpoint(latest)
        if state["identity"] != identity:
            raise CheckpointError(f"{latest}: written by a run with another config, seed or dataset; use a new run dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stopper.load_state_dict(state["early_stopping"])
        shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        best_state, history = state["best_model"], state["history"]
        start_epoch, steps, elapsed, train_seconds = state["epoch"], state["steps"], state["elapsed"], state["train_s"]
    train_seconds_before = train_seconds

    logger = BatchedCSVLogger(Path(run_dir) / "log.csv", LOG_FIELDS, batch_size=20) if run_dir else None
    watch = Stopwatch()
    bar = progress_bar(
        total=max_epochs,
        initial=start_epoch,
        desc=f"train {prefix_length:g} s",
        unit="epoch",
        disable=not show_progress,
    )
    try:
        for epoch in range(start_epoch, max_epochs):
            if stopper.stopped:
                break
            epoch_start = time.perf_counter()
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            order = torch.randperm(n_train, generator=shuffle).to(device)
            loss_sum = 0.0
            with watch.section("train"):
                for start in range(0, n_train, config["batch_size"]):
                    batch = order[start : start + config["batch_size"]]
                    loss = optimization_step(
                        model,
                        optimizer,
                        config,
                        train_split.x[batch],
                        train_split.known[batch],
                        train_split.target[batch],
                    )
                    loss_sum += loss * len(batch)
                    steps += 1
            with watch.section("validate"):
                val_nll = validation_nll(model, val_split)
            scheduler.step(val_nll)
            if stopper.improved(val_nll):
                best_state = copy.deepcopy(model.state_dict())
            stopper.step(val_nll)
            elapsed += time.perf_counter() - epoch_start
            train_seconds = train_seconds_before + watch.totals()["train"]
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": loss_sum / n_train,
                "val_nll": val_nll,
                "elapsed_s": elapsed,
                "samples_seen": (history[-1]["samples_seen"] if history else 0) + n_train,
            }
            history.append(row)
            bar.update(1)
            bar.set_postfix(val_nll=f"{val_nll:.4f}", lr=f"{lr:.2e}")
            if logger:
                logger.log(row)
            last_epoch = stopper.stopped or epoch + 1 == max_epochs
            if checkpoints and (last_epoch or (epoch + 1) % checkpoint_every == 0):
                checkpoints.save(
                    epoch + 1,
                    {
                        "identity": identity,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "early_stopping": stopper.state_dict(),
                        "shuffle_rng": shuffle.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "best_model": best_state,
                        "history": history,
                        "epoch": epoch + 1,
                        "steps": steps,
                        "elapsed": elapsed,
                        "train_s": train_seconds,
                        "normalizer": [normalizer[0].tolist(), normalizer[1].tolist()],
                    },
                )
    finally:
        bar.close()
        if logger:
            logger.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=model,
        history=history,
        best_val_nll=min((row["val_nll"] for row in history), default=float("nan")),
        stop_reason=stopper.reason or f"reached max_epochs={max_epochs}",
        optimizer_steps=steps,
        train_seconds=train_seconds,
        normalizer=normalizer,
        timings=watch.totals(),
    )


def load_trained_model(checkpoint_path: str | Path) -> tuple[EarlyInferenceModel, dict[str, Any]]:
    """The best model of a finished run and its identity (config, prefix length, normalizer, ...)."""
    state = load_checkpoint(checkpoint_path)
    identity = state["identity"]
    data_config = identity["data_config"]
    sim = simulators.get(data_config["simulator"])
    model = EarlyInferenceModel(
        n_known=len(sim.known_names),
        n_params=len(sim.param_names),
        pooling=identity["config"]["pooling"],
        **identity["model_kwargs"],
    )
    model.load_state_dict(state["best_model"] if state["best_model"] is not None else state["model"])
    model.eval()
    normalizer = (np.asarray(state["normalizer"][0]), np.asarray(state["normalizer"][1]))
    return model, {**identity, "normalizer": normalizer, "history": state["history"]}
