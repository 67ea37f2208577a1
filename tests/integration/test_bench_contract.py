"""Every package's `bench --preset ci` runs and writes a benchmark.json that meets the contract."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainkit.contract import read_document

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_has_its_own_tests_and_readme(package):
    assert any((ROOT / "tests" / package).glob("test_*.py")), f"tests/{package}/ has no test files"
    readme = (ROOT / "packages" / package / "README.md").read_text()
    assert "<!-- benchmark:start -->" in readme and "<!-- benchmark:end -->" in readme


@pytest.mark.parametrize("package", PACKAGES)
def test_bench_ci_preset_writes_a_valid_benchmark(package, tmp_path):
    out = tmp_path / package
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", package, "bench", "--preset", "ci", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = read_document(out / "benchmark.json")  # schema 2; every summary re-derived from the runs
    assert doc["package"] == package and doc["preset"] == "ci"
    assert f"-m {package} bench" in doc["command"]
    for name, mode in doc["modes"].items():
        assert [r["seed"] for r in mode["runs"]] == doc["seeds"], name
        assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 for r in mode["runs"]), name
    assert {entry["seed"] for entry in doc["order"]} == set(doc["seeds"])
    assert set(doc["warmup"]) == set(doc["modes"])
    assert doc["budget"].strip()
    print(f"{package} bench --preset ci took {elapsed:.1f} s")


@pytest.mark.parametrize("package", PACKAGES)
def test_bench_rejects_an_unknown_preset_with_one_line(package):
    proc = subprocess.run(
        [sys.executable, "-m", package, "bench", "--preset", "enormous"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
