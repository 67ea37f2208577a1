"""Render many schema-3 ``benchmark.json`` files into one Markdown report with PNG plots.

python -m trainkit.report reports/bench/*/benchmark.json --out reports --readme-root packages
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainkit.atomic import atomic_write
from trainkit.cli import TrainkitArgumentParser, run_cli
from trainkit.contract import read_document
from trainkit.harness import DEFAULT_PRESET
from trainkit.report_plots import plot_quality, plot_speedups

__all__ = ["main", "package_table", "render_report", "replace_marked_block", "update_readme_table"]

README_START = "<!-- benchmark:start -->"
README_END = "<!-- benchmark:end -->"
SUMMARY_START = "<!-- summary:start -->"
SUMMARY_END = "<!-- summary:end -->"
DESIGN_START = "<!-- design-summary:start -->"
DESIGN_END = "<!-- design-summary:end -->"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _interval(interval: Mapping[str, Any] | None, ratio: bool = False, point: float | None = None) -> str:
    """``centre [low, high]``, or ``point`` alone (n/a when None) when there is no interval."""
    show = _ratio if ratio else _fmt
    if interval is None:
        return show(point)
    return f"{show(interval['center'])} [{show(interval['low'])}, {show(interval['high'])}]"


def _method(interval: Mapping[str, Any] | None) -> str:
    return "n < 2: no interval" if interval is None else f"{interval['method']}, n = {interval['n']}"


def _headline_interval(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return doc["budget_quality_interval"] if doc["headline_field"] == "quality_at_budget" else doc["quality_interval"]


def _opponent_cell(doc: Mapping[str, Any]) -> str:
    best = doc["strongest_opponent"]
    return "none declared" if best is None else f"{best['name']} {_fmt(best['value'])}"


def _opponents_table(doc: Mapping[str, Any]) -> list[str]:
    if not doc["opponent_rows"]:
        return ["", "**No simple opponent is declared for this bench.**"]
    field = doc["headline_field"]
    lines = [
        "",
        f"Simple and degenerate opponents on the headline metric ({doc['quality_metric']}, same data; the arms' "
        f"means: original {_fmt(doc['modes']['original'][field + '_mean'])}, optimized "
        f"{_fmt(doc['modes']['optimized'][field + '_mean'])}):",
        "",
        "| opponent | what it is | value | optimized − opponent [95% CI] (method, n) |",
        "|---|---|---|---|",
    ]
    for row in doc["opponent_rows"]:
        paired = row["optimized_minus_opponent"]
        versus = f"{_interval(paired)} ({_method(paired)})" if paired else "– (one value, not per seed)"
        lines.append(f"| {row['name']} | {row['description']} | {_fmt(row['value'])} | {versus} |")
    return lines


def _arrow(doc: Mapping[str, Any]) -> str:
    return "higher is better" if doc["higher_is_better"] else "lower is better"


def _modes_table(doc: Mapping[str, Any]) -> list[str]:
    lines = [
        f"| arm | what it is | median wall s | median CPU s | cores used | {doc['quality_metric']} at its stop "
        f"(mean) | {doc['quality_metric']} at the equal budget (mean) | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, mode in doc["modes"].items():
        lines.append(
            f"| {name} | {mode['description']} | {_fmt(mode['wall_s_median'])} | {_fmt(mode['cpu_s_median'])} | "
            f"{_fmt(mode['cores_used_median'])} | {_fmt(mode['quality_mean'])} | "
            f"{_fmt(mode['quality_at_budget_mean'])} | {len(mode['runs'])} |"
        )
    return lines


def _decomposition_table(doc: Mapping[str, Any]) -> list[str]:
    if not doc["decomposition"]:
        return []
    lines = [
        "",
        "What each change buys (ratio = baseline / variant, geometric mean over paired seeds [95% CI]; "
        "Δ = variant − baseline, mean [95% CI]):",
        "",
        f"| change | baseline → variant | wall ratio ({doc['speedup_basis']}) | CPU ratio ({doc['cpu_basis']}) "
        "| Δ quality at stop | Δ quality at equal budget |",
        "|---|---|---|---|---|---|",
    ]
    for row in doc["decomposition"]:
        lines.append(
            f"| {row['label']} | {row['baseline']} → {row['variant']} | "
            f"{_interval(row['speedup_interval'], True, row['speedup'])} | {_ratio(row['speedup_cpu'])} | "
            f"{_interval(row['quality_interval'], point=row['quality_delta'])} | "
            f"{_interval(row['budget_quality_interval'], point=row['budget_quality_delta'])} |"
        )
    return lines


def _provenance(doc: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, mode in doc["modes"].items():
        for key, hp in mode["hyperparameters"].items():
            if hp["source"] == "cited":
                origin = f"cited: {hp['citation']}"
            elif hp["source"] == "search":
                search = hp["search"]
                origin = f"searched over {search['candidates']} on the validation split, budget {search['budget']}"
            else:
                origin = hp["source"]
            lines.append(f"- `{name}` {key} = {hp['value']!r} ({origin})")
    return ["", "Hyperparameters and where they come from:", "", *lines] if lines else []


def package_table(doc: Mapping[str, Any]) -> str:
    """One package's benchmark as Markdown: arms, headline, decomposition, provenance, notes."""
    machine = doc["machine"]
    lines = [
        f"Measured by `{doc['command']}` (preset `{doc['preset']}`, seeds {doc['seeds']}, {machine['cpus']} CPUs, "
        f"{machine['threads']} torch thread(s), torch {machine['torch']}, device {machine['device']}"
        + (f", {doc['created_utc']}" if doc.get("created_utc") else "")
        + (
            f"; the whole bench took {doc['bench_cost']['wall_s'] / 60:.1f} min wall, "
            f"{doc['bench_cost']['cpu_s'] / 60:.1f} CPU-min"
            if doc.get("bench_cost")
            else ""
        )
        + f"). Quality: {doc['quality_metric']} ({_arrow(doc)}). Equal budget: {doc['budget']}.",
        "",
        *_modes_table(doc),
        "",
        f"Original / optimized: **{_ratio(doc['speedup'])} wall** ({doc['speedup_basis']}; "
        f"{_interval(doc['speedup_interval'], ratio=True)}, {_method(doc['speedup_interval'])}), "
        f"**{_ratio(doc['speedup_cpu'])} CPU** ({doc['cpu_basis']}; "
        f"{_interval(doc['speedup_cpu_interval'], ratio=True)}). Quality Δ (optimized − original, mean [95% CI]) "
        "at the equal budget "
        f"{_interval(doc['budget_quality_interval'])} ({_method(doc['budget_quality_interval'])}), at each arm's "
        f"stop {_interval(doc['quality_interval'])} ({_method(doc['quality_interval'])}). Non-inferiority margin: "
        f"{_fmt(doc['non_inferiority_margin'])}"
        + (f" ({_fmt(doc['margin']['value'])} of the original's mean)" if doc["margin"]["relative"] else "")
        + f", set before the run: {doc['margin']['reason']}. Strongest opponent: {_opponent_cell(doc)}. "
        f"Verdict: **{doc['verdict']}**.",
        *_opponents_table(doc),
        *_decomposition_table(doc),
        *_provenance(doc),
        "",
        "Arms ran in alternating order (original first on even seeds, optimized first on odd), each after one "
        "untimed warm-up. "
        + (
            "Quality figures repeat exactly for the same command."
            if doc["reproducibility"]["deterministic"]
            else f"Quality does not repeat exactly: {doc['reproducibility']['reason']}"
        ),
    ]
    if doc["changed_from_v1"]:
        lines += ["", "Changed from the schema-1 report:", *(f"- {text}" for text in doc["changed_from_v1"])]
    lines += [f"- {note}" for note in doc["notes"]]
    return "\n".join(lines)


def replace_marked_block(path: Path, start: str, end: str, content: str) -> bool:
    """Replace the text between the ``start`` and ``end`` markers in ``path``, atomically.

    False, with the file untouched, if the file or either marker is missing.
    """
    if not path.is_file():
        return False
    text = path.read_text()
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        return False
    with atomic_write(path) as handle:
        handle.write(pattern.sub(lambda _: f"{start}\n{content}\n{end}", text, count=1))
    return True


def _replace_between(path: Path, start: str, end: str, content: str, source: str) -> bool:
    provenance = f"<!-- written by trainkit.report from {source}; do not edit by hand -->"
    return replace_marked_block(path, start, end, f"{provenance}\n{content}")


def update_readme_table(readme: Path, doc: Mapping[str, Any], source: str) -> bool:
    """Replace the text between the benchmark markers in a package README; False if it has no markers."""
    return _replace_between(readme, README_START, README_END, package_table(doc), source)


def _summary_rows(loaded: Sequence[tuple[Path, Mapping[str, Any]]], out: Path) -> list[str]:
    lines = [
        "| package | preset | wall ratio [95% CI] | CPU ratio | quality metric | original | optimized "
        "| Δ opt−orig [95% CI] | interval, n | strongest opponent | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path, doc in loaded:
        field = doc["headline_field"]
        interval = _headline_interval(doc)
        where = "equal budget" if field == "quality_at_budget" else "at stop"
        arrow = "↑" if doc["higher_is_better"] else "↓"
        lines.append(
            f"| [{doc['package']}]({os.path.relpath(path, out)}) | {doc['preset']} | "
            f"{_interval(doc['speedup_interval'], True, doc['speedup'])} | {_ratio(doc['speedup_cpu'])} | "
            f"{doc['quality_metric']} ({arrow}, {where}) | {_fmt(doc['modes']['original'][field + '_mean'])} | "
            f"{_fmt(doc['modes']['optimized'][field + '_mean'])} | {_interval(interval)} | {_method(interval)} | "
            f"{_opponent_cell(doc)} | {doc['verdict']} |"
        )
    return lines


def render_report(
    bench_files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    readme_root: str | os.PathLike[str] | None = None,
    failures: Mapping[str, str] | None = None,
    command: str = "nox -s bench",
    elapsed_s: Mapping[str, float] | None = None,
    summary_readme: str | os.PathLike[str] | None = None,
    summary_markers: tuple[str, str] = (SUMMARY_START, SUMMARY_END),
) -> Path:
    """Write ``out_dir/BENCHMARKS.md`` plus ``speedup.png`` and ``quality.png``; return the report path.

    Package README tables, and the summary table between the summary markers of ``summary_readme``, are
    refreshed only from the default preset's results: other presets are not evidence. With the design
    markers, the README's design-size table is refreshed from ``design`` results only.
    """
    loaded = sorted(((Path(p), read_document(p)) for p in bench_files), key=lambda item: item[1]["package"])
    out = Path(out_dir)  # made only once every document has been read and checked
    out.mkdir(parents=True, exist_ok=True)
    docs = [doc for _, doc in loaded]
    lines = [
        "# Benchmarks: original vs optimized",
        "",
        f"Written by `python -m trainkit.report` at the end of `{command}`. Every figure below comes from the "
        "`benchmark.json` linked in its row, and each package section names the command that measured it. Arms "
        "ran interleaved with the same seeds, in alternating order, after one untimed warm-up each; ratios are "
        "geometric means of per-seed ratios with a t-interval of their logs; quality deltas are means of paired "
        "deltas with a paired t-interval (BCa bootstrap from 20 pairs). A quality word stronger than "
        "'inconclusive' needs 10 paired seeds, and a speed word needs the whole interval beyond ±5%. The "
        "strongest simple opponent stands in every row. The CPU ratio (CPU seconds of the process and its "
        "children) is the stable figure on a shared machine; the wall ratio is what a user waits.",
        "",
    ]
    if elapsed_s:
        per_package = ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in sorted(elapsed_s.items()))
        cpus = docs[0]["machine"]["cpus"] if docs else os.cpu_count()
        lines += [f"`{command}` took {sum(elapsed_s.values()) / 60:.1f} min on {cpus} CPUs ({per_package}).", ""]
    lines += _summary_rows(loaded, out)
    for package, reason in sorted((failures or {}).items()):
        lines.append(f"| {package} | – | – | – | – | – | – | – | – | – | **bench failed**: {reason} |")
    if docs:
        plot_speedups(docs, out / "speedup.png")
        plot_quality(docs, out / "quality.png")
        lines += ["", "![speedup per package](speedup.png)", "", "![quality per seed](quality.png)", ""]
    for path, doc in loaded:
        lines += ["", f"## {doc['package']}", "", package_table(doc)]
        for name, value in doc["extra_comparisons"].items():
            summary = value.get("summary") if isinstance(value, Mapping) else None
            lines.append(f"- extra comparison `{name}`" + (f": {summary}" if summary else " (see benchmark.json)"))
        for png in sorted(path.parent.glob("*.png")):
            lines.append(f"\n![{png.stem}]({os.path.relpath(png, out)})")
        if readme_root is not None and doc["preset"] == DEFAULT_PRESET:
            readme = Path(readme_root) / doc["package"] / "README.md"
            update_readme_table(readme, doc, os.path.relpath(path, Path(readme_root) / doc["package"]))
    report = out / "BENCHMARKS.md"
    with atomic_write(report) as handle:
        handle.write("\n".join(lines) + "\n")
    table_preset = DEFAULT_PRESET if summary_markers[0] == SUMMARY_START else "design"
    if summary_readme is not None and docs and all(doc["preset"] == table_preset for doc in docs):
        home = Path(summary_readme).parent
        took = f", which took {sum(elapsed_s.values()) / 60:.1f} min" if elapsed_s else ""
        summary = [
            f"Measured by `{command}`{took}; details, decomposition tables and plots in "
            f"[{os.path.relpath(report, home)}]({os.path.relpath(report, home)}).",
            "",
            *_summary_rows(loaded, home),
        ]
        _replace_between(Path(summary_readme), *summary_markers, "\n".join(summary), "the report")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="python -m trainkit.report", description=__doc__.splitlines()[0])
    parser.add_argument("bench_files", nargs="*", type=Path, help="benchmark.json files (schema 2)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for BENCHMARKS.md and PNGs")
    parser.add_argument(
        "--readme-root", type=Path, default=None, help="update <root>/<package>/README.md tables (default preset only)"
    )
    parser.add_argument(
        "--failed", action="append", default=[], metavar="PKG=REASON", help="a package whose bench failed"
    )
    parser.add_argument("--command", default="nox -s bench", help="the command that produced the files")
    parser.add_argument("--elapsed", action="append", default=[], metavar="PKG=SECONDS", help="bench wall time")
    parser.add_argument(
        "--summary-readme",
        type=Path,
        default=None,
        help="refresh the summary table in this README (quick results) or, with --design, its design-size table",
    )
    parser.add_argument("--design", action="store_true", help="the files are design-preset results")
    args = parser.parse_args(argv)
    failures = dict(item.split("=", 1) if "=" in item else (item, "see log") for item in args.failed)
    elapsed = {name: float(seconds) for name, seconds in (item.split("=", 1) for item in args.elapsed)}
    markers = (DESIGN_START, DESIGN_END) if args.design else (SUMMARY_START, SUMMARY_END)
    report = render_report(
        args.bench_files, args.out, args.readme_root, failures, args.command, elapsed, args.summary_readme, markers
    )
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "python -m trainkit.report"))
