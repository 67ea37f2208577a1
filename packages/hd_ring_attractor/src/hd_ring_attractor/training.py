"""The design document's entry points: ``train_model_enhanced``, ``quick_train`` and progress plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from hd_ring_attractor.enhanced_training import AdamCosineTrainer, create_training_config
from hd_ring_attractor.models import RingAttractorNetwork
from trainkit import ConfigError
from trainkit.plotting import save_figure

__all__ = ["quick_train", "save_progress_plots", "train_model_enhanced"]


def save_progress_plots(
    history: dict[str, list[float]], param_history: dict[str, list[float]], out_dir: str | Path
) -> list[Path]:
    """Write loss, learning-rate and parameter-evolution PNGs to ``out_dir``; never opens a window."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    epochs = [e + 1 for e in history["epoch"]]
    # matplotlib.figure.Figure has no GUI manager, so nothing can block on plt.show().
    loss_fig = Figure(figsize=(10, 3.5), layout="constrained")
    left, middle, right = loss_fig.subplots(1, 3)
    left.plot(epochs, history["train_loss"], label="train")
    left.plot(epochs, history["val_loss"], label="validation")
    left.set(xlabel="epoch", ylabel="1 - cos error", yscale="log", title="loss")
    left.legend()
    middle.plot(epochs, history["val_error_deg"])
    middle.set(xlabel="epoch", ylabel="degrees", yscale="log", title="validation mean |error|")
    right.plot(epochs, history["learning_rate"])
    right.set(xlabel="epoch", ylabel="base learning rate", yscale="log", title="learning rate")
    params_fig = Figure(figsize=(10, 5), layout="constrained")
    axes = params_fig.subplots(2, 4).ravel()
    for axis, (name, values) in zip(axes, param_history.items()):
        axis.plot(range(len(values)), values)
        axis.set(title=name, xlabel="epoch")
    return [
        save_figure(loss_fig, out / "training_curves.png", dpi=90),
        save_figure(params_fig, out / "parameter_evolution.png", dpi=90),
    ]


def train_model_enhanced(
    model: RingAttractorNetwork,
    learning_rate: float = 1e-3,
    max_epochs: int = 100,
    min_lr: float = 1e-6,
    weight_decay: float = 1e-4,
    batch_size: int = 32,
    early_stopping: bool = True,
    patience: int = 20,
    plot_progress: bool = True,
    plot_dir: str | Path | None = None,
    threads: int | None = 1,
    **config: Any,
) -> tuple[RingAttractorNetwork, dict[str, list[float]], AdamCosineTrainer]:
    """Train with Adam + cosine annealing; returns (model, history, trainer).

    Further keys of :func:`create_training_config` (``checkpoint_dir``, ``seed``, ...) pass through.
    Plots go to ``plot_dir`` (default: the checkpoint folder). ``threads`` sets torch's thread count
    (default 1: one thread was 2.5-17x faster than two for these step-bound models on the 2-core
    development machine, issue 18); None leaves it as it is.
    """
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    settings = create_training_config(
        learning_rate=learning_rate,
        max_epochs=max_epochs,
        min_lr=min_lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        early_stopping=early_stopping,
        patience=patience,
        **config,
    )
    trainer = AdamCosineTrainer(model, settings)
    if settings["log_interval"]:
        print(f"checkpoints: {trainer.checkpoint_dir}; base learning rate {settings['learning_rate']:g}")
    history = trainer.train()
    if plot_progress:
        paths = save_progress_plots(history, trainer.param_history, plot_dir or trainer.checkpoint_dir)
        print("plots: " + ", ".join(str(path) for path in paths))
    return model, history, trainer


def quick_train(
    model: RingAttractorNetwork, epochs: int = 50, lr: float = 1e-3, **config: Any
) -> tuple[RingAttractorNetwork, dict[str, list[float]]]:
    """Fast prototyping: 160 sequences, patience 10, no plots; returns (model, history)."""
    settings = {"n_sequences": 160, "patience": 10, "log_interval": max(1, epochs // 5), **config}
    model, history, _ = train_model_enhanced(
        model, learning_rate=lr, max_epochs=epochs, plot_progress=False, **settings
    )
    return model, history
