"""The report's two pictures: speedup per package (with each design document's claim) and quality per seed
against the simple opponents."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter, LogLocator

from trainkit.contract import paired_ratios
from trainkit.plotting import new_figure, save_figure

__all__ = ["plot_quality", "plot_speedups"]

OPPONENT_STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))


def _speedup_row(ax: Any, row: int, doc: Mapping[str, Any]) -> None:
    original, optimized = doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"]
    for offset, key, value, interval, colour in (
        (-0.18, doc["speedup_basis"], doc["speedup"], doc["speedup_interval"], "tab:blue"),
        (0.18, doc["cpu_basis"], doc["speedup_cpu"], doc["speedup_cpu_interval"], "tab:orange"),
    ):
        if value is not None:
            ax.barh(row + offset, value, height=0.34, color=colour, alpha=0.6)
        if interval is not None:
            ax.errorbar(
                interval["center"],
                row + offset,
                xerr=[[interval["center"] - interval["low"]], [interval["high"] - interval["center"]]],
                color="black",
                capsize=3,
                linewidth=1,
            )
        ratios = paired_ratios(original, optimized, key)
        ax.scatter(ratios, [row + offset] * len(ratios), color="black", s=8, zorder=3)
    claim = doc.get("design_claim")
    if claim:
        ax.plot([claim["low"], claim["high"]], [row, row], color="green", linewidth=5, alpha=0.5, zorder=2)
        ax.scatter([claim["low"], claim["high"]], [row, row], marker="D", color="green", s=28, zorder=4)


def plot_speedups(docs: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Wall and CPU ratio per package (bar: geometric mean, whisker: 95% CI, dots: seeds; green: claim)."""
    fig, axes = new_figure(figsize=(8.5, 1.6 + 0.8 * max(1, len(docs))))
    ax = axes[0][0]
    for row, doc in enumerate(docs):
        _speedup_row(ax, row, doc)
    ax.axvline(1.0, color="red", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(docs)), [doc["package"] for doc in docs])
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xlabel(
        "original / optimized, log scale: blue wall, orange CPU seconds\n"
        "(bar: geometric mean, whisker: 95% CI, dots: seeds)\n"
        "green diamonds: the speedup the design document claims (a claim, not a measurement)"
    )
    ax.set_title("Original vs optimized: speedup per package")
    save_figure(fig, path)


def _quality_panel(ax: Any, doc: Mapping[str, Any]) -> None:
    field = doc["headline_field"]
    original = {r["seed"]: r[field] for r in doc["modes"]["original"]["runs"]}
    optimized = {r["seed"]: r[field] for r in doc["modes"]["optimized"]["runs"]}
    for seed in sorted(set(original) & set(optimized)):
        if original[seed] is not None and optimized[seed] is not None:
            ax.plot([0, 1], [original[seed], optimized[seed]], color="gray", marker="o", alpha=0.5, markersize=3)
    for x, name in ((0, "original"), (1, "optimized")):
        mean = doc["modes"][name][field + "_mean"]
        if mean is not None:
            ax.scatter([x], [mean], marker="_", s=600, color="black", zorder=4)
    for style, opponent in zip(OPPONENT_STYLES * 3, doc["opponent_rows"]):
        if opponent["value"] is not None:
            ax.axhline(opponent["value"], linestyle=style, linewidth=1.2, color="tab:red", alpha=0.8)
            ax.annotate(
                opponent["name"],
                (1.32, opponent["value"]),
                fontsize=7,
                color="tab:red",
                va="center",
                annotation_clip=False,
            )
    ax.set_xticks([0, 1], ["original", "optimized"])
    ax.set_xlim(-0.3, 1.3)
    where = "equal budget" if field == "quality_at_budget" else "at stop"
    metric = textwrap.fill(f"{doc['quality_metric']} ({where}) {'↑' if doc['higher_is_better'] else '↓'}", 34)
    ax.set_ylabel(textwrap.fill(doc["quality_metric"], 40), fontsize=7)
    ax.set_title(f"{doc['package']}\n{metric}", fontsize=8)


def plot_quality(docs: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Per package: each seed's pair of arms, the arms' means, and every opponent as a labelled red line."""
    fig, axes = new_figure(1, max(1, len(docs)), figsize=(4.2 * max(1, len(docs)), 4.2))
    for ax, doc in zip(axes[0], docs):
        _quality_panel(ax, doc)
    fig.suptitle(
        "Quality per seed (grey lines pair a seed; black bars: arm means; red lines: simple opponents)", fontsize=10
    )
    save_figure(fig, path)
