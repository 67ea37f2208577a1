"""``AdamCosineTrainer``: BPTT on the path-integration task with Adam, cosine annealing and constraints.

The loop reads top to bottom in :meth:`AdamCosineTrainer.train`. "Original" and "optimized" training
are configurations of this one trainer (``optimizer`` = ``"sgd"``/``"adam"``, ``schedule`` =
``"constant"``/``"cosine"``), never separate code.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR

from hd_ring_attractor.evaluation import path_integration_loss, tracking_errors_deg
from hd_ring_attractor.models import SCALAR_PARAMETERS, RingAttractorNetwork
from hd_ring_attractor.tasks import PathIntegrationTask, Trajectories, make_splits
from trainkit import (
    CheckpointError,
    ConfigError,
    EarlyStopping,
    TrainkitError,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
    seed_everything,
)

__all__ = ["AdamCosineTrainer", "NonFiniteLossError", "create_training_config"]

NOISE_RATES = ("noise_rate_e", "noise_rate_i")

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
    "device": "cpu",
}
HISTORY_KEYS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_error_deg",
    "learning_rate",
    "gradient_norm",
    "parameter_norm",
    "time_per_epoch",
)
# A resumed run must continue the same schedule, so these settings must match the checkpoint's.
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
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


class NonFiniteLossError(TrainkitError):
    """The training loss became NaN or infinite; the last good checkpoint is left untouched."""


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


def _parameter_groups(model: RingAttractorNetwork, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Weight decay only on W_EI/W_IE; gains, g_av (and noise rates if trained) at a higher rate.

    Group 0 ("base") runs at the base rate: sigma_ee (steps of ~0.1 rad collapse the kernel onto single
    neurons) and, with ``train_excitability``, the per-neuron excitability. Adam moves every element by
    about its rate per step. The matrices' entries are ~1/N, so they get a much smaller rate (at the base
    rate they lose their uniformity, which pins and splits the bump). Noise rates not trained are frozen (no gradient).
    """
    lr = config["learning_rate"]
    frozen = () if config["train_noise_rates"] else NOISE_RATES
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    fast = [getattr(model, name) for name in SCALAR_PARAMETERS if name != "sigma_ee" and name not in frozen]
    model.excitability.requires_grad_(config["train_excitability"])
    base = [model.sigma_ee, model.excitability] if config["train_excitability"] else [model.sigma_ee]
    return [
        {"name": "base", "params": base, "lr": lr, "weight_decay": 0.0},
        {"name": "gains", "params": fast, "lr": lr * config["scalar_lr_multiplier"], "weight_decay": 0.0},
        {
            "name": "matrices",
            "params": [model.W_EI, model.W_IE],
            "lr": lr * config["matrix_lr_multiplier"],
            "weight_decay": config["weight_decay"],
        },
    ]


class AdamCosineTrainer:
    """Train a :class:`RingAttractorNetwork` to path-integrate; see :data:`DEFAULT_CONFIG` for the options.

    ``data`` (train, validation, test) defaults to :func:`make_splits` of the seeded task.
    Checkpoints go to ``config["checkpoint_dir"]`` (a fresh temporary folder when None, never the
    working directory); with ``resume`` a run continues from ``last.pt`` there.
    """

    def __init__(
        self,
        model: RingAttractorNetwork,
        config: dict[str, Any] | None = None,
        data: tuple[Trajectories, Trajectories, Trajectories] | None = None,
    ) -> None:
        self.config = create_training_config(**(config or {}))
        self.device = resolve_device(self.config["device"])
        self.model = model.to(self.device)
        if data is None:
            task = PathIntegrationTask(dt=model.dt)
            sizes = (self.config["n_sequences"], self.config["validation_sequences"], self.config["test_sequences"])
            data = make_splits(task, *sizes, seed=self.config["data_seed"])
        self.train_data, self.val_data, self.test_data = (split.to(self.device) for split in data)
        folder = self.config["checkpoint_dir"]
        self.checkpoint_dir = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="hd_ring_attractor_"))
        seed_everything(self.config["seed"])
        self.shuffle_generator = torch.Generator().manual_seed(self.config["seed"])
        if self.config["optimizer"] == "adam":
            self.optimizer = torch.optim.Adam(
                _parameter_groups(model, self.config), betas=self.config["betas"], eps=self.config["eps"]
            )
        else:
            self.optimizer = torch.optim.SGD(_parameter_groups(model, self.config), momentum=self.config["momentum"])
        if self.config["schedule"] == "cosine":
            self.scheduler = CosineAnnealingLR(
                self.optimizer, T_max=self.config["max_epochs"], eta_min=self.config["min_lr"]
            )
        else:
            self.scheduler = LambdaLR(self.optimizer, lambda epoch: 1.0)
        self.early_stopping = EarlyStopping(
            "val_loss",
            patience=self.config["patience"] if self.config["early_stopping"] else 0,
            min_delta=self.config["min_delta"],
        )
        self.history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.param_history: dict[str, list[float]] = {
            name: [float(getattr(model, name).detach())] for name in SCALAR_PARAMETERS
        }
        self.train_time_s = 0.0
        self.epochs_to_target: int | None = None
        self.time_to_target_s: float | None = None
        self.stop_reason: str | None = None
        self.best_epoch: int | None = None  # -1: the starting weights (select_start)
        self.optimizer_steps = 0

    # ----------------------------------------------------------------------------------- checkpoints
    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model_size": list(self.model.size),
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "early_stopping": self.early_stopping.state_dict(),
            "history": self.history,
            "param_history": self.param_history,
            "progress": {
                "train_time_s": self.train_time_s,
                "epochs_to_target": self.epochs_to_target,
                "time_to_target_s": self.time_to_target_s,
                "best_epoch": self.best_epoch,
                "optimizer_steps": self.optimizer_steps,
            },
            "config": {key: list(v) if isinstance(v, tuple) else v for key, v in self.config.items()},
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": self.shuffle_generator.get_state(),
        }

    def save_checkpoint(self, epoch: int, path: str | Path) -> Path:
        """Atomically save everything needed to continue after ``epoch`` (0-based) to ``path``."""
        return save_checkpoint(path, self._state(epoch))

    def _load_state(self, path: str | Path) -> dict[str, Any]:
        state = load_checkpoint(path, map_location=self.device)
        saved_size = tuple(state.get("model_size", ()))
        if saved_size != self.model.size:
            raise CheckpointError(
                f"{path}: checkpoint is for a model with n_exc, n_inh = {saved_size}, this model has {self.model.size}"
            )
        return state

    def load_checkpoint(self, path: str | Path) -> int:
        """Restore model, optimizer, schedule, early stopping and histories; return the epoch to start at.

        The start epoch is the saved epoch + 1 (the original returned the saved epoch, which repeats it).
        """
        state = self._load_state(path)
        changed = [key for key in SCHEDULE_KEYS if state["config"].get(key) != self.config[key]]
        if changed:
            raise CheckpointError(
                f"{path}: that run used other settings for {changed}; "
                "resume with the same ones or use another checkpoint_dir"
            )
        self.model.load_state_dict(state["model_state_dict"])
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        self.scheduler.load_state_dict(state["scheduler_state_dict"])
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.history = {key: list(values) for key, values in state["history"].items()}
        self.param_history = {key: list(values) for key, values in state["param_history"].items()}
        progress = state["progress"]
        self.train_time_s = progress["train_time_s"]
        self.epochs_to_target = progress["epochs_to_target"]
        self.time_to_target_s = progress["time_to_target_s"]
        self.best_epoch, self.optimizer_steps = progress["best_epoch"], progress["optimizer_steps"]
        torch.set_rng_state(state["torch_rng"].cpu())
        self.shuffle_generator.set_state(state["shuffle_rng"].cpu())
        return int(state["epoch"]) + 1

    # ------------------------------------------------------------------------------------ one epoch
    def _validate(self) -> tuple[float, float]:
        errors = tracking_errors_deg(self.model, self.val_data)
        loss = float((1 - torch.cos(torch.deg2rad(errors))).mean())
        return loss, float(errors.mean())

    def _chunks(self, batch: Trajectories) -> list[Trajectories]:
        """The trial as one piece, or as ``tbptt_steps``-long pieces (the cue counted in the first ones)."""
        k = self.config["tbptt_steps"] or batch.angular_velocity.shape[1]
        steps = batch.angular_velocity.shape[1]
        return [
            Trajectories(
                batch.angular_velocity[:, t : t + k],
                batch.heading[:, t : t + k],
                batch.cue_angle,
                min(max(batch.cue_steps - t, 0), k),
            )
            for t in range(0, steps, k)
        ]

    def _optimizer_step(self, loss: torch.Tensor, where: str) -> float:
        """Backward, clip, step and constrain; returns the pre-clip gradient norm."""
        if not torch.isfinite(loss):
            last = self.checkpoint_dir / LAST_CHECKPOINT
            kept = f"the last good checkpoint is kept at {last}" if last.is_file() else "no checkpoint was saved yet"
            raise NonFiniteLossError(f"training loss became {loss.item()} at {where}; stopping ({kept})")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config["max_grad_norm"] if self.config["clip_gradients"] else math.inf
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.optimizer.step()
        self.optimizer_steps += 1
        if self.config["apply_constraints"]:
            self.model.apply_constraints()
        return float(norm)

    def _train_one_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training set; returns (mean loss, mean pre-clip gradient norm).

        With ``tbptt_steps`` each trial is simulated in pieces: every piece after the cue gets its own
        optimizer step, and the state passes on detached (truncated backpropagation through time).
        """
        self.model.train()
        order = torch.randperm(len(self.train_data), generator=self.shuffle_generator).to(self.device)
        batch_size = self.config["batch_size"]
        losses, norms = [], []
        for index, start in enumerate(range(0, len(order) - batch_size + 1, batch_size)):
            state = None
            for piece in self._chunks(self.train_data.batch(order[start : start + batch_size])):
                if piece.cue_steps == piece.angular_velocity.shape[1]:  # all cue: nothing to learn from here
                    with torch.no_grad():
                        _, state = self.model(piece.angular_velocity, piece.cue_angle, piece.cue_steps, state, True)
                    continue
                rates, state = self.model(piece.angular_velocity, piece.cue_angle, piece.cue_steps, state, True)
                loss = path_integration_loss(rates, piece)
                norms.append(self._optimizer_step(loss, f"epoch {epoch} batch {index}"))
                losses.append(float(loss.detach()))
                state = (state[0].detach(), state[1].detach())
        return sum(losses) / len(losses), sum(norms) / len(norms)

    # ------------------------------------------------------------------------------------------ run
    def train(self) -> dict[str, list[float]]:
        """Train until ``max_epochs`` or early stopping; returns the per-epoch history."""
        start_epoch = 0
        last = self.checkpoint_dir / LAST_CHECKPOINT
        if self.config["resume"] and last.is_file():
            start_epoch = self.load_checkpoint(last)
        if self.early_stopping.stopped:
            self.stop_reason = self.early_stopping.reason
        if start_epoch == 0 and self.config["select_start"] and self.config["save_checkpoints"]:
            self.early_stopping.best, self.best_epoch = self._validate()[0], -1  # the start is the best so far
            save_checkpoint(self.checkpoint_dir / BEST_CHECKPOINT, {**self._state(-1), "best": True})
        for epoch in range(start_epoch, self.config["max_epochs"]):
            if self.early_stopping.stopped:
                break
            started = time.perf_counter()
            learning_rate = self.optimizer.param_groups[0]["lr"]  # the base rate (group "base")
            train_loss, gradient_norm = self._train_one_epoch(epoch)
            self.scheduler.step()
            self.train_time_s += time.perf_counter() - started
            val_loss, val_error = self._validate()
            if self.epochs_to_target is None and val_error <= self.config["target_error_deg"]:
                self.epochs_to_target, self.time_to_target_s = epoch + 1, self.train_time_s
            improved = self.early_stopping.improved(val_loss)
            stop = self.early_stopping.should_stop(val_loss)
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_error_deg": val_error,
                "learning_rate": learning_rate,
                "gradient_norm": gradient_norm,
                "parameter_norm": float(torch.sqrt(sum((p.detach() ** 2).sum() for p in self.model.parameters()))),
                "time_per_epoch": time.perf_counter() - started,
            }
            for key, value in row.items():
                self.history[key].append(value)
            for name in SCALAR_PARAMETERS:
                self.param_history[name].append(float(getattr(self.model, name).detach()))
            if self.config["save_checkpoints"]:
                if improved:
                    self.best_epoch = epoch
                    save_checkpoint(self.checkpoint_dir / BEST_CHECKPOINT, {**self._state(epoch), "best": True})
                self.save_checkpoint(epoch, last)
            if self.config["log_interval"] and (epoch + 1) % self.config["log_interval"] == 0:
                print(
                    f"epoch {epoch + 1}/{self.config['max_epochs']}: train {train_loss:.4f} val {val_loss:.4f} "
                    f"({val_error:.2f} deg) lr {learning_rate:.2e} g_av {self.model.g_av.item():.3f}"
                )
            if stop:
                self.stop_reason = self.early_stopping.reason
                break
        best = self.checkpoint_dir / BEST_CHECKPOINT
        if self.config["restore_best"] and self.config["save_checkpoints"] and best.is_file():
            self.model.load_state_dict(self._load_state(best)["model_state_dict"])
        return self.history
