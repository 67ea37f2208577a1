"""Render many ``benchmark.json`` files into one Markdown report with PNG plots.

python -m trainkit.report reports/bench/*/benchmark.json --out reports --readme-root packages
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator

from trainkit.benchmark import paired_ratio_median, read_benchmark

__all__ = ["main", "package_table", "render_report", "update_readme_table"]

README_START = "<!-- benchmark:start -->"
README_END = "<!-- benchmark:end -->"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _speedup_cell(doc: Mapping[str, Any]) -> str:
    if doc["speedup"] is None:
        return "n/a"
    return f"{doc['speedup']:.2f}× ({doc['speedup_basis']})"


def _delta_cell(doc: Mapping[str, Any]) -> str:
    delta = _fmt(doc["quality_delta"])
    if doc["quality_ci95"] is None:
        return delta
    lo, hi = doc["quality_ci95"]
    return f"{delta} [{_fmt(lo)}, {_fmt(hi)}]"


def package_table(doc: Mapping[str, Any]) -> str:
    """A Markdown table of one package's benchmark, for its README."""
    arrow = "higher is better" if doc["higher_is_better"] else "lower is better"
    lines = [
        f"Measured by `{doc['command']}` (preset `{doc['preset']}`, seeds {doc['seeds']}, "
        f"{doc['machine']['cpus']} CPUs, torch {doc['machine']['torch']}, device {doc['machine']['device']}"
        + (f", {doc['created_utc']}" if doc.get("created_utc") else "")
        + ").",
        "",
        f"| mode | median wall s | median {doc['quality_metric']} ({arrow}) | runs |",
        "|---|---|---|---|",
    ]
    for name, mode in doc["modes"].items():
        lines.append(
            f"| {name} | {_fmt(mode['wall_s_median'])} | {_fmt(mode['quality_median'])} | {len(mode['runs'])} |"
        )
    lines += [
        "",
        f"Speedup (median of paired original/optimized {doc['speedup_basis']}): **{_speedup_cell(doc)}**; "
        f"quality delta (optimized − original, median [95% bootstrap CI]): {_delta_cell(doc)}; "
        f"verdict: **{doc['verdict']}**.",
    ]
    for note in doc.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def update_readme_table(readme: Path, doc: Mapping[str, Any], source: str) -> bool:
    """Replace the text between the benchmark markers in ``readme``; False if it has no markers."""
    if not readme.is_file():
        return False
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    provenance = f"<!-- written by trainkit.report from {source}; do not edit by hand -->"
    body = f"{README_START}\n{provenance}\n{package_table(doc)}\n{README_END}"
    readme.write_text(pattern.sub(lambda _: body, text, count=1))
    return True


def _plot_speedups(docs: Sequence[Mapping[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 0.7 + 0.6 * max(1, len(docs))))
    for row, doc in enumerate(docs):
        _, ratios = paired_ratio_median(
            doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"], doc["speedup_basis"]
        )
        if doc["speedup"] is not None:
            ax.barh(row, doc["speedup"], color="tab:blue", alpha=0.6)
        else:
            ax.text(1.0, row, f"  n/a: {doc['verdict']}", va="center", fontsize=8, color="dimgray")
        ax.scatter(ratios, [row] * len(ratios), color="black", s=12, zorder=3)
    ax.axvline(1.0, color="red", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(docs)), [f"{d['package']}\n({d['speedup_basis']})" for d in docs])
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xlabel("speedup, original / optimized (bar: median, dots: seeds; log scale)")
    ax.set_title("Original vs optimized: speedup per package")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_quality(docs: Sequence[Mapping[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, max(1, len(docs)), figsize=(3.2 * max(1, len(docs)), 3.2), squeeze=False)
    for ax, doc in zip(axes[0], docs):
        original = {r["seed"]: r["quality"] for r in doc["modes"]["original"]["runs"]}
        optimized = {r["seed"]: r["quality"] for r in doc["modes"]["optimized"]["runs"]}
        for seed in sorted(set(original) & set(optimized)):
            if original[seed] is not None and optimized[seed] is not None:
                ax.plot([0, 1], [original[seed], optimized[seed]], color="gray", marker="o", alpha=0.7)
        ax.set_xticks([0, 1], ["original", "optimized"])
        ax.set_xlim(-0.3, 1.3)
        arrow = "↑" if doc["higher_is_better"] else "↓"
        metric = textwrap.fill(f"{doc['quality_metric']} {arrow}", width=32)
        ax.set_title(f"{doc['package']}\n{metric}", fontsize=9)
    fig.suptitle("Quality per seed (lines pair the same seed)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_report(
    bench_files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    readme_root: str | os.PathLike[str] | None = None,
    failures: Mapping[str, str] | None = None,
    command: str = "nox -s bench",
    elapsed_s: Mapping[str, float] | None = None,
) -> Path:
    """Write ``out_dir/BENCHMARKS.md`` plus ``speedup.png`` and ``quality.png``; return the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = sorted(((Path(p), read_benchmark(p)) for p in bench_files), key=lambda item: item[1]["package"])
    docs = [doc for _, doc in loaded]
    lines = [
        "# Benchmarks: original vs optimized",
        "",
        f"Written by `python -m trainkit.report` at the end of `{command}`. Every figure below comes from the "
        "`benchmark.json` linked in its row; each row names the command that measured it. Modes ran interleaved "
        "with the same seeds; speedup is the median of per-seed ratios.",
        "",
    ]
    if elapsed_s:
        total = sum(elapsed_s.values())
        per_package = ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in sorted(elapsed_s.items()))
        cpus = docs[0]["machine"]["cpus"] if docs else os.cpu_count()
        lines += [
            f"`{command}` took {total / 60:.1f} min on {cpus} CPUs ({per_package}), timed by the nox session.",
            "",
        ]
    lines += [
        "| package | preset | speedup (basis) | quality metric | original | optimized | Δ opt−orig [95% CI] "
        "| verdict | seeds | command |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path, doc in loaded:
        rel = os.path.relpath(path, out)
        lines.append(
            f"| [{doc['package']}]({rel}) | {doc['preset']} | {_speedup_cell(doc)} | {doc['quality_metric']} "
            f"({'↑' if doc['higher_is_better'] else '↓'}) | {_fmt(doc['modes']['original']['quality_median'])} | "
            f"{_fmt(doc['modes']['optimized']['quality_median'])} | {_delta_cell(doc)} | {doc['verdict']} | "
            f"{len(doc['seeds'])} | `{doc['command']}` |"
        )
    for package, reason in sorted((failures or {}).items()):
        lines.append(f"| {package} | – | failed | – | – | – | – | **bench failed**: {reason} | – | – |")
    if docs:
        _plot_speedups(docs, out / "speedup.png")
        _plot_quality(docs, out / "quality.png")
        lines += ["", "![speedup per package](speedup.png)", "", "![quality per seed](quality.png)", ""]
    for path, doc in loaded:
        lines += ["", f"## {doc['package']}", "", package_table(doc)]
        for name, value in doc.get("extra_comparisons", {}).items():
            summary = value.get("summary") if isinstance(value, Mapping) else None
            lines.append(f"- extra comparison `{name}`" + (f": {summary}" if summary else " (see benchmark.json)"))
        for png in sorted(path.parent.glob("*.png")):
            lines.append(f"\n![{png.stem}]({os.path.relpath(png, out)})")
        if readme_root is not None:
            readme = Path(readme_root) / doc["package"] / "README.md"
            update_readme_table(readme, doc, os.path.relpath(path, Path(readme_root) / doc["package"]))
    report = out / "BENCHMARKS.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainkit.report", description=__doc__.splitlines()[0])
    parser.add_argument("bench_files", nargs="*", type=Path, help="benchmark.json files")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for BENCHMARKS.md and PNGs")
    parser.add_argument("--readme-root", type=Path, default=None, help="update <root>/<package>/README.md tables")
    parser.add_argument(
        "--failed", action="append", default=[], metavar="PKG=REASON", help="a package whose bench failed"
    )
    parser.add_argument("--command", default="nox -s bench", help="the command that produced the files")
    parser.add_argument("--elapsed", action="append", default=[], metavar="PKG=SECONDS", help="bench wall time")
    args = parser.parse_args(argv)
    failures = dict(item.split("=", 1) if "=" in item else (item, "see log") for item in args.failed)
    elapsed = {name: float(seconds) for name, seconds in (item.split("=", 1) for item in args.elapsed)}
    report = render_report(args.bench_files, args.out, args.readme_root, failures, args.command, elapsed)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
