"""The command line and the benchmark document (structure and quality bounds, never timings)."""

from __future__ import annotations

import json

import pytest
from hd_ring_attractor.benchmark import BenchPreset, run_benchmark
from hd_ring_attractor.cli import main

from trainkit import run_cli
from trainkit.benchmark import read_benchmark

TINY = BenchPreset(
    32,
    8,
    dark_ms=100.0,
    batch_size=8,
    n_train=16,
    n_val=8,
    n_test=8,
    epochs=2,
    seeds=2,
    hold_ms=50.0,
    speed_repeats=1,
    slow_engine_steps=1,
    fast_engine_steps=2,
)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process (the same code path as ``python -m``); return code, out, err."""
    code = run_cli(main, list(args), prog="hd_ring_attractor")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_benchmark_document_holds_every_comparison(tmp_path):
    path = run_benchmark("ci", None, tmp_path, device_name="cpu", threads=1, preset=TINY)
    doc = read_benchmark(path)
    assert doc["speedup_basis"] == "time_to_target_s" and doc["higher_is_better"] is False
    assert doc["seeds"] == [0, 1]
    extra = doc["extra_comparisons"]
    for name in ("simulation_speed", "adam_fixed_lr", "training_original", "training_optimized", "baselines"):
        assert extra[name]["summary"], name
    speed = extra["simulation_speed"]
    assert (speed["n_exc"], speed["n_inh"], speed["batch"]) == (800, 200, 32)
    assert speed["original_ms_per_step"] > 0 and speed["optimized_ms_per_step"] > 0
    for run in doc["modes"]["optimized"]["runs"] + doc["modes"]["original"]["runs"]:
        assert 0 <= run["quality"] < 180
        assert run["extra"]["reached_target"] == (run["extra"]["time_to_target_s"] is not None)
        assert len(run["extra"]["val_error_deg"]) == 2
    baselines = extra["baselines"]
    assert baselines["zhang_g_av_1"]["mean_error_deg"] < baselines["untrained"]["mean_error_deg"]
    assert (tmp_path / "hd_ring_attractor_benchmark.png").stat().st_size > 1000


def test_help_names_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "bench", "demo"):
        assert command in out


def test_train_resumes_and_refuses_a_checkpoint_of_another_size(tmp_path, capsys):
    common = ["train", "--epochs", "1", "--batch-size", "8", "--sequences", "8", "--checkpoint-dir", str(tmp_path)]
    common += ["--val-sequences", "8", "--test-sequences", "8", "--device", "cpu"]
    code, out, err = cli(capsys, *common, "--n-exc", "32", "--n-inh", "8")
    assert code == 0, err
    metrics = json.loads((tmp_path / "test_metrics.json").read_text())
    assert 0 <= metrics["mean_error_deg"] < 180 and "test: mean_error_deg" in out
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "training_curves.png").is_file()
    code, _, err = cli(capsys, *common, "--n-exc", "48", "--n-inh", "8")
    assert code == 2
    assert "(32, 8)" in err and "(48, 8)" in err and len(err.strip().splitlines()) == 1


def test_impossible_settings_get_one_line_errors(tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--epochs", "0", "--checkpoint-dir", str(tmp_path))
    assert code == 2 and "max_epochs must be > 0" in err
    code, _, err = cli(capsys, "bench", "--seeds", "0", "--out", str(tmp_path))
    assert code == 2 and "--seeds" in err
