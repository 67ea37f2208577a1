"""`nox -s bench -- --preset ci` runs trainkit.suite: it must leave the committed evidence untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

from trainkit.suite import discover_packages, main

FAKE_MAIN = """
import argparse, sys
from types import SimpleNamespace
from trainkit.harness import Arm, BenchSpec, RunResult, add_bench_arguments, run_bench

PRESETS = {"ci": SimpleNamespace(seeds=1), "quick": SimpleNamespace(seeds=1)}

def build(ctx):
    arms = {name: Arm(lambda seed: RunResult(seed, quality=1.0), None, name) for name in ("original", "optimized")}
    return BenchSpec("fakepkg", "acc", True, "nothing", arms)

parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="command")
add_bench_arguments(sub.add_parser("bench"), PRESETS)
args = parser.parse_args()
run_bench("fakepkg", PRESETS, build, args)
"""


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def _repo(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "lib" / "fakepkg").mkdir(parents=True)
    (tmp_path / "lib" / "fakepkg" / "__init__.py").write_text("")
    (tmp_path / "lib" / "fakepkg" / "__main__.py").write_text(FAKE_MAIN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    root = tmp_path / "repo"
    (root / "packages" / "fakepkg").mkdir(parents=True)
    (root / "packages" / "fakepkg" / "pyproject.toml").write_text("[project]\nname='fakepkg'\n")
    (root / "packages" / "fakepkg" / "README.md").write_text("<!-- benchmark:start -->\nE\n<!-- benchmark:end -->\n")
    (root / "reports" / "bench" / "fakepkg").mkdir(parents=True)
    (root / "reports" / "bench" / "fakepkg" / "benchmark.json").write_text("{}")
    (root / "reports" / "BENCHMARKS.md").write_text("evidence\n")
    (root / "README.md").write_text("# r\n<!-- summary:start -->\nS\n<!-- summary:end -->\n")
    monkeypatch.chdir(root)
    return root


def test_ci_preset_leaves_evidence_and_readmes_unchanged(tmp_path, monkeypatch):
    root = _repo(tmp_path, monkeypatch)
    assert discover_packages(root) == ["fakepkg"]
    before = {
        **_digest(root / "reports" / "bench"),
        **_digest(root / "packages"),
        "R": (root / "README.md").read_text(),
    }
    assert main(["--preset", "ci", "--root", str(root)]) == 0
    after = {**_digest(root / "reports" / "bench"), **_digest(root / "packages"), "R": (root / "README.md").read_text()}
    assert after == before
    assert (root / "reports" / "BENCHMARKS.md").read_text() == "evidence\n"
    assert (root / "reports" / "ci" / "fakepkg" / "benchmark.json").is_file()
    assert "fakepkg" in (root / "reports" / "ci" / "BENCHMARKS.md").read_text()


def test_default_preset_refreshes_evidence_and_readmes(tmp_path, monkeypatch):
    root = _repo(tmp_path, monkeypatch)
    assert main(["--root", str(root)]) == 0
    assert "E\n" not in (root / "packages" / "fakepkg" / "README.md").read_text()
    summary = (root / "README.md").read_text()
    assert "S\n" not in summary and "[fakepkg](reports/bench/fakepkg/benchmark.json)" in summary
    assert (root / "reports" / "BENCHMARKS.md").read_text() != "evidence\n"


def test_a_killed_suite_skips_the_packages_it_finished(tmp_path, monkeypatch, capsys):
    import json

    root = _repo(tmp_path, monkeypatch)
    second = root / "packages" / "fakepkg2"
    second.mkdir()
    (second / "pyproject.toml").write_text("[project]\nname='fakepkg2'\n")
    (tmp_path / "lib" / "fakepkg2").mkdir()
    (tmp_path / "lib" / "fakepkg2" / "__init__.py").write_text("")
    (tmp_path / "lib" / "fakepkg2" / "__main__.py").write_text("import sys\nsys.exit(3)\n")  # dies every time
    assert main(["--root", str(root), "--preset", "ci"]) == 1
    progress = json.loads((root / "reports" / "ci" / "suite_partial.json").read_text())
    assert list(progress["finished"]) == ["fakepkg"]
    first = (root / "reports" / "ci" / "fakepkg" / "benchmark.json").read_bytes()
    assert main(["--root", str(root), "--preset", "ci"]) == 1
    assert "fakepkg: finished earlier in this suite run, kept" in capsys.readouterr().err
    assert (root / "reports" / "ci" / "fakepkg" / "benchmark.json").read_bytes() == first  # not re-run
