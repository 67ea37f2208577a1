"""The command line end to end on a tiny dataset, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from early_inference import bench
from early_inference.bench import BenchPreset
from early_inference.cli import entry_point

from trainkit.benchmark import read_benchmark


def test_help_lists_every_subcommand():
    proc = subprocess.run([sys.executable, "-m", "early_inference", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("generate", "train", "evaluate", "bench"):
        assert command in proc.stdout


def test_generate_train_evaluate_end_to_end(tmp_path, capsys):
    cache = tmp_path / "cache"
    common = ["--n-train", "64", "--n-val", "16", "--n-test", "16", "--prefix-lengths", "30", "--workers", "1"]
    assert entry_point(["generate", *common, "--cache-dir", str(cache)]) == 0
    dataset = next(cache.glob("urea_*.npz"))
    run_dir = tmp_path / "run"
    train_args = ["train", "--data", str(dataset), "--prefix-length", "30", "--profile", "ci", "--epochs", "2"]
    assert entry_point([*train_args, "--run-dir", str(run_dir)]) == 0
    assert "best val NLL" in capsys.readouterr().out
    metrics = tmp_path / "metrics.json"
    args = ["evaluate", "--run-dir", str(run_dir), "--data", str(dataset), "--fit-samples", "3", "--out", str(metrics)]
    assert entry_point(args) == 0
    reports = json.loads(metrics.read_text())
    assert set(reports) == {"model", "model_variance_rescaled", "model_on_fit_samples", "least_squares", "prior_only"}
    assert reports["least_squares"]["E0_g_per_L"]["mae"] < reports["prior_only"]["E0_g_per_L"]["mae"]


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert entry_point(["train", "--data", str(tmp_path / "none.npz"), "--prefix-length", "30", "--run-dir", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("early_inference: error:") and "no such dataset" in err and "\n" not in err
    assert entry_point(["evaluate", "--run-dir", str(tmp_path), "--data", str(tmp_path / "d.npz")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_bench_writes_the_contract_with_baselines_and_plots(tmp_path, monkeypatch):
    tiny = BenchPreset(
        data={"n_train": 64, "n_val": 32, "n_test": 32},
        profile="ci",
        max_epochs=2,
        seeds=2,
        fit_samples=2,
        throughput_steps=2,
        mlp_max_epochs=3,
        target_val_nll={30: 10.0, 60: 10.0, 300: -100.0},
    )
    monkeypatch.setitem(bench.PRESETS, "ci", tiny)
    path = bench.run_bench("ci", None, tmp_path / "out", device="cpu", cache_dir=tmp_path / "cache")
    doc = read_benchmark(path)
    assert doc["speedup_basis"] == "time_to_target_s" and doc["speedup"] is None  # 300 s target unreachable
    assert doc["higher_is_better"] is False and doc["seeds"] == [0, 1]
    for mode in ("original", "optimized"):
        for run in doc["modes"][mode]["runs"]:
            assert "time_to_target_s" in run["extra"] and run["extra"]["time_to_target_s"] is None
            assert run["quality"] == pytest.approx(run["extra"]["per_prefix"]["300"]["test"]["nll_mean"])
            assert run["extra"]["per_prefix"]["30"]["time_to_target_s"] > 0
            assert run["work"]["epochs"] == 6
    extra = doc["extra_comparisons"]
    for key in (
        "ab_per_prefix",
        "baselines",
        "identifiability_k_d",
        "calibration",
        "throughput",
        "attention",
        "C_flatten",
        "mlp_on_prefix",
        "mlp_on_prefix_shared_network",
    ):
        assert isinstance(extra[key]["summary"], str) and extra[key]["summary"]
    assert set(doc["modes"]) == {"original", "optimized"}  # the extra arm stays out of the A/B
    for key in ("C_flatten", "mlp_on_prefix"):
        for length in ("30", "60", "300"):
            cells = extra[key][length]
            assert 0 <= cells["k_d_per_s_coverage_1sigma"] <= 1 and cells["e0_mae_ratio_over_fit"] > 0
            assert extra["identifiability_k_d"][length][key] == cells["k_d_rmse_over_prior_sd"]
        assert isinstance(extra[key]["learns_k_d"], bool)
    assert extra["C_flatten"]["300"]["test_nll_by_seed"] != extra["ab_per_prefix"]["300"]["test_nll"]["optimized"]
    assert extra["mlp_on_prefix"]["30"]["epochs_by_seed"]["E0_g_per_L"] == [3, 3]
    assert extra["mlp_on_prefix_shared_network"]["300"]["epochs_by_seed"] == [3, 3]
    assert extra["baselines"]["300"]["fit_time_over_model_time"] > 1
    for name in ("predicted_vs_true.png", "calibration.png", "lr_and_loss.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
