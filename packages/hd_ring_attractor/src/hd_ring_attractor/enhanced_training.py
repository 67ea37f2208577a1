"""``AdamCosineTrainer``: BPTT on the path-integration task with Adam, cosine annealing and constraints.

The loop reads top to bottom in :meth:`AdamCosineTrainer.train`. "Original" and "optimized" training
are configurations of this one trainer (``optimizer`` = ``"sgd"``/``"adam"``, ``schedule`` =
``"constant"``/``"cosine"``), never separate code.
"""

from __future__ import annotations

import logging
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
from hd_ring_attractor.training_config import SCHEDULE_KEYS, create_training_config
from trainkit import (
    CheckpointError,
    EarlyStopping,
    TrainkitError,
    load_checkpoint,
    require,
    resolve_device,
    save_checkpoint,
    seed_everything,
)
from trainkit.run_folder import claim_run_folder
from trainkit.tensorboard import TensorBoardSink

logger = logging.getLogger(__name__)

__all__ = ["AdamCosineTrainer", "NonFiniteLossError", "create_training_config"]

NOISE_RATES = ("noise_rate_e", "noise_rate_i")
PACKAGE, CHECKPOINT_KIND = "hd_ring_attractor", "trainer"  # recorded in and checked on every checkpoint

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
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


class NonFiniteLossError(TrainkitError):
    """The training loss became NaN or infinite; the last good checkpoint is left untouched."""


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
    """Train a :class:`RingAttractorNetwork` to path-integrate; options in ``training_config.DEFAULT_CONFIG``.

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
        return save_checkpoint(path, self._state(epoch), package=PACKAGE, kind=CHECKPOINT_KIND)

    def _load_state(self, path: str | Path) -> dict[str, Any]:
        state = load_checkpoint(path, map_location=self.device, package=PACKAGE, kind=CHECKPOINT_KIND)
        require(state, "config", dict, source=path)
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
        for path in (last, self.checkpoint_dir / BEST_CHECKPOINT):
            if path.exists() and not path.is_file():
                raise CheckpointError(f"{path} is not a file; move it away or use another checkpoint_dir")
        claim_run_folder(self.checkpoint_dir)
        if self.config["resume"] and last.is_file():
            start_epoch = self.load_checkpoint(last)
        if self.early_stopping.stopped:
            self.stop_reason = self.early_stopping.reason
        if start_epoch == 0 and self.config["select_start"] and self.config["save_checkpoints"]:
            self.early_stopping.best, self.best_epoch = self._validate()[0], -1  # the start is the best so far
            self.save_checkpoint(-1, self.checkpoint_dir / BEST_CHECKPOINT)
        sink = None
        if self.config["tensorboard_dir"]:
            # purge_step: a resumed run's epochs replace those an interrupted run had already logged.
            sink = TensorBoardSink(self.config["tensorboard_dir"], step_field="epoch", purge_step=start_epoch)
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
            if sink is not None:  # flushed before the checkpoint, so a resume never misses logged epochs
                sink.write([{**row, "samples_per_s": len(self.train_data) / row["time_per_epoch"]}], epoch)
                sink.flush()
            if self.config["save_checkpoints"]:
                if improved:
                    self.best_epoch = epoch
                    self.save_checkpoint(epoch, self.checkpoint_dir / BEST_CHECKPOINT)
                self.save_checkpoint(epoch, last)
            if self.config["log_interval"] and (epoch + 1) % self.config["log_interval"] == 0:
                logger.info(
                    f"epoch {epoch + 1}/{self.config['max_epochs']}: train {train_loss:.4f} val {val_loss:.4f} "
                    f"({val_error:.2f} deg) lr {learning_rate:.2e} g_av {self.model.g_av.item():.3f}"
                )
            if stop:
                self.stop_reason = self.early_stopping.reason
                break
        if sink is not None:
            sink.close()
        best = self.checkpoint_dir / BEST_CHECKPOINT
        if self.config["restore_best"] and self.config["save_checkpoints"] and best.is_file():
            self.model.load_state_dict(self._load_state(best)["model_state_dict"])
        return self.history
