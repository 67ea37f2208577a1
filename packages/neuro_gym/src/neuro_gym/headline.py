"""The README's first table, written from a benchmark.json: the three ratios side by side, epochs per arm.

``python -m neuro_gym bench`` calls :func:`update_readme` after writing the committed evidence
(``--preset quick`` into ``reports/bench/neuro_gym``), so the numbers in the README are the ones that run
wrote. The JSON is read with ``json`` only (no code runs).
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainkit import atomic_write
from trainkit.contract import paired_deltas, paired_ratios

__all__ = ["README_END", "README_START", "headline_table", "update_readme"]

README_START = "<!-- neuro_gym:headline:start -->"
README_END = "<!-- neuro_gym:headline:end -->"


def _ratio(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.3g}× ({min(values):.3g}–{max(values):.3g})"


def _delta(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):+.3f}"


def headline_table(doc: Mapping[str, Any], source: str) -> str:
    """Markdown: the decomposition rows with ranges over seeds, then epochs to target per arm and task."""
    modes = doc["modes"]
    lines = [
        f"Written from `{source}` (`{doc['command']}`, preset `{doc['preset']}`, seeds {doc['seeds']}, "
        f"{doc['created_utc']}). Ratios: baseline / variant of the time until both targets held, median "
        "(range) over the seeds where both arms held both targets (n/a: no such seed); Δ accuracy: variant − "
        "baseline, median over seeds.",
        "",
        "| comparison | baseline → variant | wall ratio | CPU ratio | Δ accuracy, equal budget | Δ at target |",
        "|---|---|---|---|---|---|",
    ]
    for row in doc["decomposition"]:
        base, variant = modes[row["baseline"]]["runs"], modes[row["variant"]]["runs"]
        lines.append(
            f"| {row['label']} | {row['baseline']} → {row['variant']} | "
            f"{_ratio(paired_ratios(base, variant, doc['speedup_basis']))} | "
            f"{_ratio(paired_ratios(base, variant, doc['cpu_basis']))} | "
            f"{_delta(paired_deltas(base, variant, 'quality_at_budget'))} | "
            f"{_delta(paired_deltas(base, variant, 'quality'))} |"
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
