"""Every package's `bench --preset ci` runs and writes a benchmark.json that meets the contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainkit.contract import read_document

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))
WRITTEN: dict[str, Path] = {}  # package -> the benchmark.json its uninterrupted ci bench wrote in this session
RESUMED_PACKAGE = "hd_ring_attractor"  # the resume test kills and reruns one real package's ci bench


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
    doc = read_document(out / "benchmark.json")  # schema 3; every summary re-derived from the runs
    WRITTEN[package] = out / "benchmark.json"
    assert doc["package"] == package and doc["preset"] == "ci"
    assert f"-m {package} bench" in doc["command"]
    for name, mode in doc["modes"].items():
        assert [r["seed"] for r in mode["runs"]] == doc["seeds"], name
        assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 for r in mode["runs"]), name
    assert {entry["seed"] for entry in doc["order"]} == set(doc["seeds"])
    assert set(doc["warmup"]) == set(doc["modes"])
    assert doc["budget"].strip()
    assert doc["margin"]["reason"].strip() and doc["opponents"], "v3: a margin with its reason, and opponents"
    assert not (out / "partial").exists()
    print(f"{package} bench --preset ci took {elapsed:.1f} s")


def _quality_by_run(doc: dict) -> dict:
    return {
        (name, run["seed"]): (run["quality"], run["quality_at_budget"])
        for name, mode in doc["modes"].items()
        for run in mode["runs"]
    }


def test_a_bench_killed_mid_run_resumes_to_the_same_figures(tmp_path):
    """kill -9 after the first finished run, rerun the same command: the uninterrupted run's quality figures."""
    out = tmp_path / "killed"
    command = [sys.executable, "-m", RESUMED_PACKAGE, "bench", "--preset", "ci", "--out", str(out)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not list((out / "partial").glob("run.*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the bench ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "benchmark.json").exists()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr
    reference = WRITTEN.get(RESUMED_PACKAGE)
    if reference is None:  # run alone: measure the uninterrupted reference here
        subprocess.run([*command[:-1], str(tmp_path / "whole")], check=True, capture_output=True, env=env)
        reference = tmp_path / "whole" / "benchmark.json"
    whole, again = read_document(reference), read_document(out / "benchmark.json")
    assert _quality_by_run(again) == _quality_by_run(whole)
    assert again["verdict"].split(", ", 1)[1] == whole["verdict"].split(", ", 1)[1]  # the quality words
    assert "earlier, killed attempt" in again["bench_cost"]["covers"]


@pytest.mark.parametrize("package", PACKAGES)
def test_bench_rejects_an_unknown_preset_with_one_line(package):
    proc = subprocess.run(
        [sys.executable, "-m", package, "bench", "--preset", "enormous"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
