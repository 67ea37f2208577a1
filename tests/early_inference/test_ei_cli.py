"""The command line end to end on a tiny dataset, its one-line errors, the console scripts and the bench."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from early_inference import bench, peer_runs
from early_inference.bench import BenchPreset
from early_inference.cli import COMMANDS, DESCRIPTION, PACKAGE, build_parser_for, main
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.peers import INSTALL_HINT
from early_inference.train_early_inference import CONFIG

from trainkit.cli import assert_every_flag_has_help, build_parser
from trainkit.contract import read_document, validate_document


def test_help_lists_every_subcommand_and_every_flag_has_help():
    proc = subprocess.run([sys.executable, "-m", "early_inference", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("generate", "train", "evaluate", "bench"):
        assert command in proc.stdout
    assert_every_flag_has_help(build_parser(PACKAGE, DESCRIPTION, list(COMMANDS.values())))
    for command, prog in (
        ("generate", "generate-early-inference-data"),
        ("train", "train-early-inference"),
        ("bench", "early-inference-bench"),
    ):
        parser = build_parser_for(command, prog)
        assert_every_flag_has_help(parser)
        assert prog in parser.format_help()
    assert "--backend" in build_parser_for("generate", "g").format_help()


def test_generate_train_evaluate_end_to_end(tmp_path, capsys):
    cache = tmp_path / "cache"
    common = ["--n-train", "64", "--n-val", "16", "--n-test", "16", "--prefix-lengths", "30", "--workers", "1"]
    assert main(["generate", *common, "--cache-dir", str(cache)]) == 0
    dataset = next(cache.glob("urea_*.npz"))
    run_dir = tmp_path / "run"
    train_args = ["train", "--data", str(dataset), "--prefix-length", "30", "--profile", "ci", "--steps", "3"]
    assert main([*train_args, "--run-dir", str(run_dir)]) == 0
    assert "after 3 steps" in capsys.readouterr().out
    metrics = tmp_path / "metrics.json"
    args = ["evaluate", "--run-dir", str(run_dir), "--data", str(dataset), "--fit-samples", "3", "--out", str(metrics)]
    assert main(args) == 0
    reports = json.loads(metrics.read_text())
    assert set(reports) == {"model", "model_variance_rescaled", "model_on_fit_samples", "least_squares", "prior_only"}
    assert reports["least_squares"]["E0_g_per_L"]["mae"] < reports["prior_only"]["E0_g_per_L"]["mae"]


def exit_code(argv) -> int:
    """main's return value, or the status of the SystemExit that argparse raises for a bad flag."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert (
        exit_code(["train", "--data", str(tmp_path / "none.npz"), "--prefix-length", "30", "--run-dir", run_dir]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "no such file" in err and "\n" not in err
    (tmp_path / "d.npz").write_bytes(b"junk")
    assert exit_code(["evaluate", "--run-dir", str(tmp_path), "--data", str(tmp_path / "d.npz")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert exit_code(["generate", "--n-train", "0"]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    assert exit_code(["generate", "--ray-address", "auto", "--cache-dir", str(tmp_path)]) == 2
    assert "--backend ray" in capsys.readouterr().err


def test_ray_backend_without_ray_says_how_to_install_it(tmp_path, capsys):
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here; test_ei_distributed.py covers the backend")
    argv = [
        "generate",
        "--backend",
        "ray",
        "--n-train",
        "4",
        "--n-val",
        "2",
        "--n-test",
        "2",
        "--cache-dir",
        str(tmp_path),
    ]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "early_inference[distributed]" in err and "\n" not in err.strip()
    assert not list(tmp_path.glob("*.npz"))  # nothing written


TINY = BenchPreset(
    data={"n_train": 64, "n_val": 32, "n_test": 32},
    profile="ci",
    steps={30: 3, 60: 3, 300: 2},
    seeds=2,
    n_eval=8,
    variants=("optimized_plain_nll",),
    npe_max_epochs=1,
    throughput_steps=1,
)


def test_bench_writes_the_contract_with_every_peer_on_the_same_samples(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.PRESETS, "ci", TINY)
    args = ["bench", "--preset", "ci", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    doc = read_document(tmp_path / "out" / "benchmark.json")
    validate_document(doc)
    assert doc["seeds"] == [0, 1] and doc["higher_is_better"] is False
    assert set(doc["modes"]) == {"original", "optimized", "optimized_plain_nll"}
    for mode in doc["modes"].values():
        for run in mode["runs"]:
            assert run["work"]["optimizer_steps"] == 8  # 3 + 3 + 2: the same budget for every arm
            assert run["quality"] == run["quality_at_budget"]
    assert doc["decomposition"][0]["baseline"] == "optimized_plain_nll"
    extra = doc["extra_comparisons"]
    for key in ("30", "60", "300"):
        table = extra["per_prefix"][key]
        assert set(table) == {"original", "optimized", "mlp_on_prefix", "least_squares", "prior_only", "sbi_npe"}
        assert table["least_squares"]["e0_ratio"] == 1.0
        assert 0 <= table["optimized"]["rescaled_k_d_per_s_coverage_2sigma"] <= 1
        assert table["optimized"]["all_test_n"] == 32  # the whole test split, beside the 8 shared samples
        assert 0 <= table["optimized"]["all_test_E0_g_per_L_coverage_1sigma"] <= 1
        assert sum(extra["sbc_optimized"][key]["E0_g_per_L"]["histogram"]) == 2 * 8  # two seeds x 8 samples
    assert set(extra["goals"]) >= {"e0_ratio_at_most_1.5", "coverage_within_5_points_rescaled"}
    assert extra["goals"]["coverage_within_5_points_all_test"] in (True, False)
    for name in ("predicted_vs_true.png", "calibration.png", "lr_and_loss.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000


def test_bench_quality_is_reproducible_to_the_last_digit(tmp_path):
    data = generate_dataset({"n_train": 64, "n_val": 32, "n_test": 32, "prefix_lengths": [30]}, n_workers=1)
    runs = [bench.run_arm(data, CONFIG, "ci", {30: 3}, 0, bench_device(), 8) for _ in range(2)]
    assert runs[0].quality == runs[1].quality
    cells = [{k: v for k, v in run.extra["per_prefix"]["30"].items() if k != "samples_per_s"} for run in runs]
    assert cells[0] == cells[1]  # every metric, not only the headline (samples/s is a timing)


def bench_device():
    import torch

    return torch.device("cpu")


def test_without_sbi_the_npe_column_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(peer_runs, "npe_available", lambda: False)
    data = generate_dataset({"n_train": 32, "n_val": 16, "n_test": 16, "prefix_lengths": [30]}, n_workers=1)
    runs = peer_runs.run_peers(data, CONFIG, {30: 2}, [0], n_eval=4)
    assert runs.npe[30] == INSTALL_HINT and "pip install" in INSTALL_HINT and "peers" in INSTALL_HINT


def test_the_original_script_name_runs_the_generate_command_instead_of_doing_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "early_inference.generate_early_inference_data", "--n-train", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "n-train" in done.stderr
