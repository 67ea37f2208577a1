"""Every package's ``bench`` in turn, then one report: what ``nox -s bench`` runs.

python -m trainkit.suite --preset quick --root .

Only the default preset writes the committed evidence (``reports/bench/``, ``reports/BENCHMARKS.md`` and the
package README tables); the ``design`` preset writes under ``reports/design/`` and refreshes only the README's
design-size table; any other preset writes under ``reports/<preset>/`` and touches nothing else.

Killed and rerun with the same arguments, the suite skips the packages it had finished (kept in
``<report folder>/suite_partial.json`` until the report is written) and each package's bench resumes from
its own last finished arm and seed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainkit.atomic import atomic_write
from trainkit.cli import TrainkitArgumentParser
from trainkit.harness import DEFAULT_PRESET, default_out
from trainkit.report import DESIGN_END, DESIGN_START, SUMMARY_END, SUMMARY_START, render_report

__all__ = ["DESIGN_PRESET", "discover_packages", "main", "report_folder"]

DESIGN_PRESET = "design"  # the design documents' sizes: its own README table, never the quick evidence


def discover_packages(root: Path) -> list[str]:
    """Package names from ``root/packages/*/pyproject.toml``."""
    return sorted(p.parent.name for p in (root / "packages").glob("*/pyproject.toml"))


def report_folder(preset: str) -> Path:
    return Path("reports") if preset == DEFAULT_PRESET else Path("reports") / preset


def _load_progress(path: Path, key: dict[str, Any], fresh: bool) -> dict[str, float]:
    """Packages this suite run already finished (name -> seconds), if ``path`` belongs to the same run."""
    if fresh or not path.is_file():
        return {}
    stored = json.loads(path.read_text())
    return dict(stored["finished"]) if stored.get("key") == key else {}


def _save_progress(path: Path, key: dict[str, Any], finished: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        json.dump({"key": key, "finished": finished}, handle, indent=2)


def _run_packages(root: Path, packages: Sequence[str], args: argparse.Namespace) -> tuple[list, dict, dict]:
    progress_file = root / report_folder(args.preset) / "suite_partial.json"
    key = {"preset": args.preset, "seeds": args.seeds, "packages": list(packages)}
    elapsed = _load_progress(progress_file, key, args.fresh)
    written, failures = [], {}
    for index, name in enumerate(packages, start=1):
        out = default_out(name, args.preset)
        if name in elapsed and (root / out / "benchmark.json").is_file():
            print(f"[{index}/{len(packages)}] {name}: finished earlier in this suite run, kept", file=sys.stderr)
            written.append(root / out / "benchmark.json")
            continue
        print(f"[{index}/{len(packages)}] {name}: bench --preset {args.preset}", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", name, "bench", "--preset", args.preset, "--out", str(out)]
        command += ["--seeds", args.seeds] if args.seeds else []
        command += ["--fresh"] if args.fresh else []
        started = time.perf_counter()
        code = subprocess.run(command, cwd=root).returncode
        if code == 0:
            elapsed[name] = time.perf_counter() - started
            written.append(root / out / "benchmark.json")
            _save_progress(progress_file, key, elapsed)
        else:
            failures[name] = f"exit status {code}, see the log above"
    if not failures:
        progress_file.unlink(missing_ok=True)
    return written, failures, elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="python -m trainkit.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="the preset every package's bench runs")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (holds packages/)")
    parser.add_argument("--packages", nargs="*", default=None, help="package names (default: all under root)")
    parser.add_argument("--seeds", default=None, help="passed on to every bench as --seeds")
    parser.add_argument(
        "--fresh", action="store_true", help="ignore what a killed run of this suite finished, in every package"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    known = discover_packages(root)
    packages = args.packages if args.packages is not None else known
    unknown = sorted(set(packages) - set(known))
    if unknown:
        parser.error(f"--packages {' '.join(unknown)}: not under {root / 'packages'} (found: {', '.join(known)})")
    written, failures, elapsed = _run_packages(root, packages, args)
    shown = f"nox -s bench -- --preset {args.preset}" if args.preset != DEFAULT_PRESET else "nox -s bench"
    evidence = args.preset == DEFAULT_PRESET
    markers = (DESIGN_START, DESIGN_END) if args.preset == DESIGN_PRESET else (SUMMARY_START, SUMMARY_END)
    report = render_report(
        written,
        root / report_folder(args.preset),
        root / "packages" if evidence else None,
        failures,
        shown,
        elapsed,
        summary_readme=root / "README.md" if evidence or args.preset == DESIGN_PRESET else None,
        summary_markers=markers,
    )
    print(f"wrote {report}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
