"""PNG plots (matplotlib Figure, no pyplot): predicted vs true, calibration curves, learning-rate and loss curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.plotting import new_figure, save_figure

__all__ = ["plot_calibration", "plot_lr_and_loss", "plot_predicted_vs_true"]


def plot_predicted_vs_true(
    path: Path, panels: Mapping[float, Mapping[str, Any]], param_names: Sequence[str], max_points: int = 150
) -> Path:
    """One row per prefix length, one column per parameter; error bars are +-1 sigma (physical units).

    ``panels[L]`` holds ``truth`` (n, p), ``median`` (n, p), ``lower`` and ``upper`` (n, p).
    """
    lengths = list(panels)
    fig, axes = new_figure(len(lengths), len(param_names), figsize=(4.2 * len(param_names), 3.4 * len(lengths)))
    for row, length in enumerate(lengths):
        panel = panels[length]
        shown = slice(0, min(max_points, len(panel["truth"])))
        for col, name in enumerate(param_names):
            ax = axes[row, col]
            truth, median = panel["truth"][shown, col], panel["median"][shown, col]
            err = np.vstack([median - panel["lower"][shown, col], panel["upper"][shown, col] - median])
            ax.errorbar(truth, median, yerr=np.maximum(err, 0), fmt=".", ms=3, alpha=0.6, elinewidth=0.7)
            span = [min(truth.min(), median.min()), max(truth.max(), median.max())]
            ax.plot(span, span, "k--", lw=0.8)
            ax.set_title(f"{name}, {length:g} s prefix", fontsize=9)
            ax.set_xlabel("true")
            ax.set_ylabel("predicted (median, ±1σ)")
    return save_figure(fig, path, dpi=90)


def plot_calibration(path: Path, levels: Sequence[float], curves: Mapping[str, Sequence[float]]) -> Path:
    """Observed vs nominal central-interval coverage; the diagonal is perfect calibration."""
    fig, axes = new_figure(figsize=(5, 5))
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    for label, observed in curves.items():
        ax.plot(levels, observed, marker=".", lw=1, label=label)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("observed coverage (test)")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=90)


def plot_lr_and_loss(path: Path, histories: Mapping[str, Sequence[Mapping[str, float]]]) -> Path:
    """Learning rate, training loss and validation NLL per epoch for each labelled run."""
    fig, grid = new_figure(1, 3, figsize=(14, 3.8))
    axes = grid[0]
    for label, history in histories.items():
        epochs = [row["epoch"] for row in history]
        axes[0].plot(epochs, [row["lr"] for row in history], label=label)
        axes[1].plot(epochs, [row["train_loss"] for row in history], label=label)
        axes[2].plot(epochs, [row["val_nll"] for row in history], label=label)
    for ax, title in zip(axes, ["learning rate", "train loss (beta-)NLL", "validation NLL"]):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
    axes[0].set_yscale("log")
    axes[2].legend(fontsize=7)
    return save_figure(fig, path, dpi=90)
