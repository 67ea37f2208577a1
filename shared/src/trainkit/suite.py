"""Every package's ``bench`` in turn, then one report: what ``nox -s bench`` runs.

python -m trainkit.suite --preset quick --root .

Only the default preset writes the committed evidence (``reports/bench/``, ``reports/BENCHMARKS.md`` and the
package README tables); any other preset writes under ``reports/<preset>/`` and touches nothing else.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from trainkit.harness import DEFAULT_PRESET, default_out
from trainkit.report import render_report

__all__ = ["discover_packages", "main", "report_folder"]


def discover_packages(root: Path) -> list[str]:
    """Package names from ``root/packages/*/pyproject.toml``."""
    return sorted(p.parent.name for p in (root / "packages").glob("*/pyproject.toml"))


def report_folder(preset: str) -> Path:
    return Path("reports") if preset == DEFAULT_PRESET else Path("reports") / preset


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainkit.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="the preset every package's bench runs")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (holds packages/)")
    parser.add_argument("--packages", nargs="*", default=None, help="package names (default: all under root)")
    parser.add_argument("--seeds", default=None, help="passed on to every bench as --seeds")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    packages = args.packages if args.packages is not None else discover_packages(root)
    written, failures, elapsed = [], {}, {}
    for name in packages:
        out = default_out(name, args.preset)
        command = [sys.executable, "-m", name, "bench", "--preset", args.preset, "--out", str(out)]
        command += ["--seeds", args.seeds] if args.seeds else []
        started = time.perf_counter()
        code = subprocess.run(command, cwd=root).returncode
        elapsed[name] = time.perf_counter() - started
        if code == 0:
            written.append(root / out / "benchmark.json")
        else:
            failures[name] = f"exit status {code}, see the log above"
    shown = f"nox -s bench -- --preset {args.preset}" if args.preset != DEFAULT_PRESET else "nox -s bench"
    evidence = args.preset == DEFAULT_PRESET
    report = render_report(
        written,
        root / report_folder(args.preset),
        root / "packages" if evidence else None,
        failures,
        shown,
        elapsed,
        summary_readme=root / "README.md" if evidence else None,
    )
    print(f"wrote {report}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
