"""The README's first table, written from a benchmark.json: the three ratios side by side, epochs per arm.

``python -m neuro_gym bench`` calls :func:`update_readme` after writing the committed evidence
(``--preset quick`` into ``reports/bench/neuro_gym``), so the numbers in the README are the ones that run
wrote. The JSON is read with ``json`` only (no code runs).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainkit import atomic_write

__all__ = ["README_END", "README_START", "headline_table", "update_readme"]

README_START = "<!-- neuro_gym:headline:start -->"
README_END = "<!-- neuro_gym:headline:end -->"


def _cell(centre: float | None, interval: Mapping[str, Any] | None, unit: str, signed: bool = False) -> str:
    if centre is None:
        return "n/a"
    text = f"{centre:+.3f}" if signed else f"{centre:.3g}{unit}"
    if interval is None:
        return f"{text} (n < 2)"
    low, high = (f"{interval['low']:+.3f}", f"{interval['high']:+.3f}") if signed else (
        f"{interval['low']:.3g}", f"{interval['high']:.3g}")  # fmt: skip
    return f"{text} [{low}, {high}], n = {interval['n']}"


def headline_table(doc: Mapping[str, Any], source: str) -> str:
    """Markdown: the headline and the decomposition rows with their 95% intervals, then epochs to target."""
    modes = doc["modes"]
    lines = [
        f"Written from `{source}` (`{doc['command']}`, preset `{doc['preset']}`, seeds {doc['seeds']}, "
        f"{doc['created_utc']}). Ratios: baseline / variant of the time until both targets held, geometric mean "
        "over the seeds where both arms held both targets, with the t-interval of the log ratios; Δ accuracy: "
        "variant − baseline, mean with its paired interval (method and n in benchmark.json). Verdict: "
        f"{doc['verdict']}.",
        "",
        "| comparison | baseline → variant | wall ratio [95% CI] | CPU ratio | Δ accuracy, equal budget [95% CI] |",
        "|---|---|---|---|---|",
    ]
    headline = {**doc, "label": "**headline**: the design document's settings, one engine", "baseline": "original",
                "variant": "optimized"}  # fmt: skip
    for row in [headline, *doc["decomposition"]]:
        cpu = "n/a" if row["speedup_cpu"] is None else f"{row['speedup_cpu']:.3g}×"
        lines.append(
            f"| {row['label']} | {row['baseline']} → {row['variant']} | "
            f"{_cell(row['speedup'], row['speedup_interval'], '×')} | {cpu} | "
            f"{_cell(row['budget_quality_delta'], row['budget_quality_interval'], '', signed=True)} |"
        )
    epochs = doc["extra_comparisons"].get("epochs_to_target", {})
    lines += [
        "",
        "| arm | XOR epochs to target (seeds reached) | sequence epochs to target (seeds reached) |",
        "|---|---|---|",
    ]
    for arm in modes:
        cells = []
        for task in ("xor", "sequence"):
            entry = epochs.get(arm, {}).get(task, {})
            median = entry.get("median_epochs_to_target")
            cells.append(f"{'n/a' if median is None else f'{median:g}'} ({entry.get('reached')}/{entry.get('seeds')})")
        lines.append(f"| {arm} | {cells[0]} | {cells[1]} |")
    if "summary" in epochs:
        lines += ["", epochs["summary"]]
    return "\n".join(lines)


def update_readme(readme: str | os.PathLike[str], benchmark: str | os.PathLike[str], source: str) -> bool:
    """Replace the text between the headline markers of ``readme``; False when it has none."""
    readme = Path(readme)
    if not readme.is_file():
        return False
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    doc = json.loads(Path(benchmark).read_text())
    body = f"{README_START}\n{headline_table(doc, source)}\n{README_END}"
    with atomic_write(readme) as handle:
        handle.write(pattern.sub(lambda _: body, text, count=1))
    return True
