"""Candidates as Ray tasks (`nox -s distributed`): same results as the process pool, and the cluster path."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from ppo_trading import train_ppo_optimized
from ppo_trading.cli import main as package_main
from ppo_trading.data import generate_synthetic_xauusd, write_ohlc_csv

pytestmark = pytest.mark.distributed
ray = pytest.importorskip("ray")

# Everything a run decides; wall times and file paths are the only columns allowed to differ.
DECIDED = ("iteration", "candidate", "seed", "timesteps_budget", "env_steps", "val_score", "selected", "warm_started")


@pytest.fixture(scope="module", autouse=True)
def ray_shutdown_after_module():
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def bars_csv(tmp_path_factory):
    return write_ohlc_csv(generate_synthetic_xauusd(4_000, 3), tmp_path_factory.mktemp("data") / "bars.csv")


def _train(bars_csv, results_dir, *extra: str) -> tuple[list[dict[str, str]], dict]:
    argv = ["--data_path", str(bars_csv), "--preset", "ci", "--iterations", "2", "--parallel_candidates", "3",
            "--results_dir", str(results_dir), "--verbose", "0", *extra]  # fmt: skip
    assert train_ppo_optimized.main(argv) == 0
    run_dir = results_dir / "42"
    with open(run_dir / "training_log.csv", newline="") as handle:
        rows = [{key: row[key] for key in DECIDED} for row in csv.DictReader(handle)]
    return rows, json.loads((run_dir / "test_metrics.json").read_text())


def test_ray_backend_gives_the_process_backends_results(bars_csv, tmp_path):
    process_rows, process_test = _train(bars_csv, tmp_path / "process", "--backend", "process")
    ray_rows, ray_test = _train(bars_csv, tmp_path / "ray", "--backend", "ray", "--max_workers", "2")
    assert len(ray_rows) == 6 and any(row["warm_started"] == "1" for row in ray_rows)
    assert ray_rows == process_rows  # same seeds, same candidates, same scores, same selection
    assert ray_test["agent"] == process_test["agent"]
    models = sorted(p.name for p in (tmp_path / "ray" / "42" / "iterations").iterdir())
    assert models == [f"iter{i:03d}_cand{c}.pt" for i in range(2) for c in range(3)]


@pytest.mark.skipif(not os.environ.get("RAY_ADDRESS"), reason="needs a running cluster (nox -s distributed)")
def test_ray_address_auto_joins_the_running_cluster(bars_csv, tmp_path):
    command = [sys.executable, "-m", "ppo_trading", "train", "--data_path", str(bars_csv), "--preset", "ci",
               "--iterations", "1", "--parallel_candidates", "2", "--backend", "ray", "--ray-address", "auto",
               "--results_dir", str(tmp_path), "--verbose", "0"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "42" / "training_log.csv").read_text().splitlines()) == 3


def test_scaling_writes_candidates_per_minute_for_every_cell(tmp_path):
    out = tmp_path / "scaling"
    argv = ["scaling", "--preset", "ci", "--candidates", "2", "--workers", "1", "2", "--repeats", "1"]
    argv += ["--out", str(out)]
    assert package_main(argv) == 0
    result = json.loads((out / "scaling.json").read_text())
    cells = {f"{backend}/{workers}" for backend in ("process", "ray") for workers in (1, 2)}
    assert set(result["runs"]) == cells and all(len(values) == 1 for values in result["runs"].values())
    assert all(value > 0 for value in result["median_candidates_per_minute"].values())
    assert result["identical_decisions_in_every_cell"] is True
