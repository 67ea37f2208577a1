"""``python -m ppo_trading report``: the README's per-data-set table, from a ``benchmark.json``.

Reads ``extra_comparisons.datasets.rows`` (written by the bench) and rewrites the text between
``<!-- ppo-datasets:start -->`` and ``<!-- ppo-datasets:end -->`` in the package README. The quick bench
(what ``nox -s bench`` runs) calls it itself, so the table always matches the committed benchmark.json.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainkit import DataError, validate
from trainkit.report import replace_marked_block

__all__ = ["README", "add_arguments", "render_table", "report_command", "write_block"]

START, END = "<!-- ppo-datasets:start -->", "<!-- ppo-datasets:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"  # packages/ppo_trading/README.md in a checkout
LABELS = {"synthetic": "synthetic gold (the bench's bars)", "real": "real hourly EURUSD (`--preset real`'s file)"}


def _pct(value: float) -> str:
    return f"{value:+.2f}"


def _ci(ci: list[float]) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def render_table(doc: Mapping[str, Any], source: str) -> str:
    """Markdown: one row per data set, then one plain sentence per data set on the verdict."""
    datasets = doc.get("extra_comparisons", {}).get("datasets", {}).get("rows")
    if not datasets:
        raise DataError(
            f"{source}: no extra_comparisons.datasets.rows (a benchmark.json from before the per-data-set table); "
            "run the bench"
        )
    agent_seeds = {row["agent"]["seeds"] for row in datasets.values()}
    lines = [
        f"Written by `python -m ppo_trading report` from `{source}` (`{doc['command']}`, {doc['created_utc']}). "
        "Walk-forward out-of-sample bars (every iteration's validation window, then the test block), all net "
        "of spread, slippage and commission; returns are log returns in %, excess = minus buy-and-hold, in "
        f"points. Agent: the optimized CLI default, the median of {'/'.join(map(str, sorted(agent_seeds)))} seeds "
        "(its return, excess and 95% circular block-bootstrap CI); the SMA(20/96) crossover's CI is the same "
        "bootstrap. The agent beats buy-and-hold only when most seeds' CIs lie above 0.",
        "",
        "| data set | out-of-sample bars | buy-and-hold | agent | agent excess [95% CI] | agent seeds with CI "
        "above 0 | SMA crossover | SMA excess [95% CI] | agent beats buy-and-hold? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sentences = []
    for name, row in datasets.items():
        agent, sma = row["agent"], row["sma_crossover"]
        beats = "yes" if row["verdict"].startswith("the agent beats") else "no"
        lines.append(
            f"| {LABELS.get(name, name)} | {row['bars']} | {_pct(row['buy_and_hold_log_return_pct'])}% | "
            f"{_pct(agent['median_seed_log_return_pct'])}% | {_pct(agent['median_seed_excess'])} "
            f"{_ci(agent['median_seed_ci95'])} | {agent['seeds_ci_above_0']} of {agent['seeds']} | "
            f"{_pct(sma['log_return_pct'])}% | {_pct(sma['excess_log_return_pct'])} {_ci(sma['ci95'])} | {beats} |"
        )
        sentences.append(f"- {LABELS.get(name, name)}: {row['verdict']}. Data: {row['data']}.")
    return "\n".join([*lines, "", *sentences])


def write_block(readme: Path, content: str) -> bool:
    """Replace the text between the markers, atomically; False (file untouched) if a marker is missing."""
    return replace_marked_block(readme, START, END, content)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bench", type=validate.existing_file, default="reports/bench/ppo_trading/benchmark.json",
                        help="the benchmark.json to read")  # fmt: skip
    parser.add_argument("--readme", type=Path, default=README, help="the README whose ppo-datasets block to rewrite")


def report_command(args: argparse.Namespace) -> int:
    source = Path(args.bench)
    try:
        doc = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: not a readable benchmark.json ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{source}: not a readable benchmark.json (top level is not an object)")
    try:
        table = render_table(doc, source.as_posix())
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
        raise DataError(f"{source}: extra_comparisons.datasets is malformed ({type(exc).__name__}: {exc})") from None
    if not write_block(Path(args.readme), table):
        raise DataError(f"{args.readme}: no {START} ... {END} block to rewrite")
    print(f"wrote the per-data-set table to {args.readme}")
    return 0
