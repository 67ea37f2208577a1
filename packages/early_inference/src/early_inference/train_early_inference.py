"""Train one ``EarlyInferenceModel`` for one prefix length; the loop reads top to bottom.

``CONFIG`` is the v2 model ("optimized") and ``ORIGINAL_CONFIG`` the seed's settings; original vs
optimized is only a choice between these dicts. The budget is a number of optimizer steps
(``max_steps``) or epochs. Schedules: "plateau" is the seed's ``trainkit.WarmupThenPlateau`` (linear
warmup, then ReduceLROnPlateau on the validation NLL, stepped per epoch); "cosine" is
``trainkit.WarmupCosine`` stepped per optimizer step over the whole budget. The best epoch is chosen on
the sum of the per-parameter validation NLLs; after training, a variance multiplier per parameter is
fitted on the validation split and, when ``apply_variance_scale``, stored in the model (and checkpoint).
A run with ``run_dir`` checkpoints every ``checkpoint_every`` epochs and the same call resumes it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from early_inference import simulators
from early_inference.configs import CONFIG, FLATTEN_CONFIG, MODEL_PROFILES, ORIGINAL_CONFIG, check_config
from early_inference.early_inference_model import EarlyInferenceModel, gaussian_nll_loss
from early_inference.evaluate import fit_variance_scale
from early_inference.generate_early_inference_data import EarlyInferenceData
from early_inference.prepared import PreparedSplit, known_normalizer, predict, prepare_split, validation_nlls
from early_inference.run_state import RunState
from trainkit import (
    BatchedCSVLogger,
    CheckpointError,
    ConfigError,
    EarlyStopping,
    ModelCheckpoint,
    Stopwatch,
    WarmupCosine,
    WarmupThenPlateau,
    load_checkpoint,
    progress_bar,
    require,
    resolve_device,
    seed_everything,
)
from trainkit.run_folder import claim_run_folder

__all__ = [
    "CONFIG",
    "FLATTEN_CONFIG",
    "MODEL_PROFILES",
    "ORIGINAL_CONFIG",
    "PreparedSplit",
    "TrainResult",
    "build_model_and_optimizer",
    "known_normalizer",
    "load_trained_model",
    "optimization_step",
    "predict",
    "prepare_split",
    "train",
    "validation_variance_scale",
]

PACKAGE, KIND = "early_inference", "posterior_model"  # recorded in every checkpoint, checked on load
_MODEL_KEYS = ("pooling", "known_as_channels", "per_parameter_heads", "prefix_branch", "branch_per_parameter")


def validation_variance_scale(
    model: EarlyInferenceModel,
    data: EarlyInferenceData,
    prefix_length: float,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device | str = "cpu",
    config: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Post-hoc variance multipliers, one per parameter, fitted on the validation split's raw predictive
    by ``config["variance_scale_fit"]`` ("nll" without a config)."""
    sim = simulators.get(data.config["simulator"])
    mean, var = predict(model, prepare_split(data, "val", prefix_length, normalizer, device, config), raw=True)
    method = config.get("variance_scale_fit", "nll") if config else "nll"
    return fit_variance_scale(mean, var, sim.to_target(data.params["val"]), method)


@dataclass
class TrainResult:
    model: EarlyInferenceModel
    history: list[dict[str, float]]
    best_val_nll: float  # mean over parameters at the selected epoch
    stop_reason: str
    optimizer_steps: int
    train_seconds: float  # time inside training batches only (for samples/s)
    normalizer: tuple[np.ndarray, np.ndarray]
    variance_scale: np.ndarray  # fitted on validation; applied in ``model`` when the config says so
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
    options = {key: config[key] for key in _MODEL_KEYS}
    model = EarlyInferenceModel(n_known=n_known, n_params=n_params, **options, **model_kwargs).to(device)
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
    """One (beta-)NLL step with gradient clipping; returns the batch loss."""
    mean, var = model(x, known)
    loss = gaussian_nll_loss(mean, var, target, var_reg=config["var_reg"], beta=config["beta_nll"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip_norm"])
    optimizer.step()
    return loss.item()


def _scheduler(optimizer, config: Mapping[str, Any], steps_per_epoch: int, total_steps: int):
    if config["schedule"] == "plateau":
        return WarmupThenPlateau(
            optimizer,
            warmup_epochs=config["warmup_epochs"],
            factor=config["scheduler_factor"],
            patience=config["scheduler_patience"],
            min_lr=config["scheduler_min_lr"],
            threshold_mode="abs",  # the NLL goes negative, where 'rel' thresholds loosen
        )
    warmup = min(config["warmup_epochs"] * steps_per_epoch, total_steps - 1)
    return WarmupCosine(optimizer, warmup_epochs=warmup, max_epochs=total_steps, min_lr=config["scheduler_min_lr"])


def _train_epoch(run: RunState, config: Mapping[str, Any], split: PreparedSplit, device) -> tuple[float, int]:
    """One pass over (a shuffled order of) the training split, stopping at the step budget; mean loss."""
    run.model.train()
    n_train = len(split.x)
    order = torch.randperm(n_train, generator=run.shuffle).to(device)
    loss_sum, seen = 0.0, 0
    for start in range(0, n_train, config["batch_size"]):
        if run.steps >= run.total_steps:
            break
        batch = order[start : start + config["batch_size"]]
        loss = optimization_step(
            run.model, run.optimizer, config, split.x[batch], split.known[batch], split.target[batch]
        )
        if config["schedule"] == "cosine":
            run.scheduler.step()
        loss_sum += loss * len(batch)
        seen += len(batch)
        run.steps += 1
    return loss_sum / max(seen, 1), seen


def train(
    data: EarlyInferenceData,
    prefix_length: float,
    config: Mapping[str, Any],
    model_kwargs: Mapping[str, Any],
    seed: int,
    max_epochs: int | None = None,
    run_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    checkpoint_every: int = 5,
    show_progress: bool = False,
    max_steps: int | None = None,
    tensorboard_dir: str | Path | None = None,
) -> TrainResult:
    """Train for ``max_steps`` optimizer steps (or ``max_epochs`` epochs); resume from ``run_dir``.

    With ``run_dir`` and ``tensorboard_dir`` the log's numeric columns are also TensorBoard scalars per epoch."""
    config = check_config(config)
    if prefix_length not in data.obs["train"]:
        raise ConfigError(f"prefix length {prefix_length} s is not in this dataset ({data.prefix_lengths})")
    if (max_steps is None) == (max_epochs is None) or (max_steps or max_epochs) < 1:
        raise ConfigError("give exactly one budget: max_steps >= 1 or max_epochs >= 1")
    device = resolve_device(device)
    model_kwargs = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in model_kwargs.items()}
    seed_everything(seed)
    normalizer = known_normalizer(data)
    train_split = prepare_split(data, "train", prefix_length, normalizer, device, config)
    val_split = prepare_split(data, "val", prefix_length, normalizer, device, config)
    if config["pooling"] == "flatten" or config["prefix_branch"]:  # in the identity: load_trained_model rebuilds it
        model_kwargs["sequence_length"] = train_split.x.shape[-1]
    steps_per_epoch = math.ceil(len(train_split.x) / config["batch_size"])
    total_steps = max_steps or max_epochs * steps_per_epoch
    model, optimizer = build_model_and_optimizer(
        train_split.known.shape[1], train_split.target.shape[1], config, model_kwargs, device
    )
    for branch in model.prefix_branches:  # restored from the checkpoint on resume
        branch.set_standardization(train_split.x, train_split.known)
    patience = config["early_stopping_patience"]
    run = RunState(
        model=model,
        optimizer=optimizer,
        scheduler=_scheduler(optimizer, config, steps_per_epoch, total_steps),
        stopper=EarlyStopping("val_nll_sum", patience=patience, mode="min") if patience else None,
        shuffle=torch.Generator().manual_seed(seed),
        identity={
            "config": config,
            "model_kwargs": model_kwargs,
            "prefix_length": float(prefix_length),
            "simulator": data.config["simulator"],
            "data_config": data.config,
            "seed": seed,
            "total_steps": total_steps,
        },
        total_steps=total_steps,
    )
    checkpoints = (
        ModelCheckpoint(run_dir, save_top_k=1, save_last=False, package=PACKAGE, kind=KIND) if run_dir else None
    )
    if run_dir:
        claim_run_folder(run_dir)
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        run.restore(load_checkpoint(latest, package=PACKAGE, kind=KIND), latest)
    watch = _loop(
        run,
        config,
        train_split,
        val_split,
        data,
        normalizer,
        device,
        run_dir,
        checkpoints,
        checkpoint_every,
        show_progress,
        tensorboard_dir,
    )
    return _finish(run, config, data, prefix_length, normalizer, device, checkpoints, watch)


LOG_FIELDS = ["epoch", "lr", "train_loss", "val_nll", "val_nll_sum", "elapsed_s", "samples_seen", "optimizer_steps",
              "samples_per_s"]  # fmt: skip


def _loop(
    run: RunState,
    config: Mapping[str, Any],
    train_split: PreparedSplit,
    val_split: PreparedSplit,
    data: EarlyInferenceData,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device,
    run_dir: str | Path | None,
    checkpoints: ModelCheckpoint | None,
    checkpoint_every: int,
    show_progress: bool,
    tensorboard_dir: str | Path | None = None,
) -> Stopwatch:
    """Epochs until the step budget (or early stopping): train, validate, select, log, checkpoint."""
    names = simulators.get(data.config["simulator"]).param_names
    fields = LOG_FIELDS + [f"val_nll_{name}" for name in names]
    logger = (
        BatchedCSVLogger(
            Path(run_dir) / "log.csv",
            fields,
            20,
            keep_rows=len(run.history),
            tensorboard_dir=tensorboard_dir,
            step_field="epoch",
        )
        if run_dir
        else None
    )
    watch, train_s_before = Stopwatch(), run.train_s
    bar = progress_bar(total=run.total_steps, initial=run.steps, desc="train", unit="step", disable=not show_progress)
    try:
        while run.steps < run.total_steps and not (run.stopper and run.stopper.stopped):
            epoch_start = time.perf_counter()
            lr = run.optimizer.param_groups[0]["lr"]
            steps_before = run.steps
            with watch.section("train"):
                train_loss, seen = _train_epoch(run, config, train_split, device)
            train_epoch_s = time.perf_counter() - epoch_start
            with watch.section("validate"):
                nlls = validation_nlls(run.model, val_split)
            val_sum = float(nlls.sum())
            if config["schedule"] == "plateau":
                run.scheduler.step(val_sum / len(nlls))
            if val_sum < run.best_sum:  # selection: the sum of per-parameter NLLs, never the beta-weighted loss
                run.best_sum, run.best_state = val_sum, copy.deepcopy(run.model.state_dict())
            if run.stopper:
                run.stopper.should_stop(val_sum)
            run.epoch += 1
            run.elapsed += time.perf_counter() - epoch_start
            run.train_s = train_s_before + watch.totals()["train"]
            row = {
                "epoch": run.epoch,
                "lr": lr,
                "train_loss": train_loss,
                "val_nll": val_sum / len(nlls),
                "val_nll_sum": val_sum,
                "elapsed_s": run.elapsed,
                "samples_seen": (run.history[-1]["samples_seen"] if run.history else 0) + seen,
                "optimizer_steps": run.steps,
                "samples_per_s": seen / max(train_epoch_s, 1e-9),
                **{f"val_nll_{name}": float(v) for name, v in zip(names, nlls)},
            }
            run.history.append(row)
            bar.update(run.steps - steps_before)
            bar.set_postfix(val_nll=f"{row['val_nll']:.4f}", lr=f"{lr:.2e}")
            if logger:
                logger.log(row)
            done = run.steps >= run.total_steps or (run.stopper and run.stopper.stopped)
            if checkpoints and (done or run.epoch % checkpoint_every == 0):
                logger.flush()
                checkpoints.save(run.epoch, run.state(normalizer))
    finally:
        bar.close()
        if logger:
            logger.close()
    return watch


def _finish(
    run: RunState,
    config: Mapping[str, Any],
    data: EarlyInferenceData,
    prefix_length: float,
    normalizer: tuple[np.ndarray, np.ndarray],
    device: torch.device,
    checkpoints: ModelCheckpoint | None,
    watch: Stopwatch,
) -> TrainResult:
    """Load the selected epoch, fit the variance scale on validation, store it, write the final checkpoint."""
    if run.best_state is not None:
        run.model.load_state_dict(run.best_state)
    scale = validation_variance_scale(run.model, data, prefix_length, normalizer, device, config)
    applied = scale if config["apply_variance_scale"] else np.ones_like(scale)
    run.model.variance_scale.copy_(torch.as_tensor(applied, dtype=run.model.variance_scale.dtype))
    run.best_state = copy.deepcopy(run.model.state_dict())
    if checkpoints and run.history:
        checkpoints.save(run.epoch, {**run.state(normalizer), "fitted_variance_scale": scale.tolist()})
    run.model.eval()
    stopped = run.stopper.reason if run.stopper and run.stopper.stopped else None
    return TrainResult(
        model=run.model,
        history=run.history,
        best_val_nll=run.best_sum / len(scale),
        stop_reason=stopped or f"reached the budget of {run.total_steps} optimizer steps",
        optimizer_steps=run.steps,
        train_seconds=run.train_s,
        normalizer=normalizer,
        variance_scale=scale,
        timings=watch.totals(),
    )


def load_trained_model(checkpoint_path: str | Path) -> tuple[EarlyInferenceModel, dict[str, Any]]:
    """The selected model of a finished run, its variance scale applied, and its identity (config, normalizer...)."""
    state = load_checkpoint(checkpoint_path, package=PACKAGE, kind=KIND)
    identity = require(state, "identity", dict, source=checkpoint_path)
    weights = require(state, "best_model", (dict, type(None)), source=checkpoint_path)
    if weights is None:
        weights = require(state, "model", dict, source=checkpoint_path)
    normalizer = require(state, "normalizer", list, source=checkpoint_path)
    try:
        sim = simulators.get(identity["data_config"]["simulator"])
        options = {key: identity["config"][key] for key in _MODEL_KEYS}
        model = EarlyInferenceModel(
            n_known=len(sim.known_names), n_params=len(sim.param_names), **options, **identity["model_kwargs"]
        )
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as exc:
        raise CheckpointError(f"{checkpoint_path}: not a usable early_inference model ({exc})") from None
    model.eval()
    scale = state.get("fitted_variance_scale")
    return model, {
        **identity,
        "normalizer": (np.asarray(normalizer[0]), np.asarray(normalizer[1])),
        "history": require(state, "history", list, source=checkpoint_path),
        "fitted_variance_scale": None if scale is None else np.asarray(scale),
    }
