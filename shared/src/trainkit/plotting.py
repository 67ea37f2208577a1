"""Plots through ``matplotlib.figure.Figure``: no pyplot, no global backend, atomic PNG writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainkit.atomic import atomic_write

__all__ = ["new_figure", "save_figure"]


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.0), **kwargs: Any):
    """A ``Figure`` and its axes array (always 2-D, like ``subplots(squeeze=False)``)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi, bbox_inches="tight")  # no label clipped at an edge
    return path


def first_axes(axes: Any) -> Axes:
    """The top-left axes of what :func:`new_figure` returned."""
    return axes[0][0]
