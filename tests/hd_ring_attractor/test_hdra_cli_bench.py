"""The command line and the benchmark document (structure, fairness, reproducibility; never timings)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import tomllib
from hd_ring_attractor import bench
from hd_ring_attractor.cli import main, make_parser

from trainkit.cli import assert_every_flag_has_help
from trainkit.contract import read_document, validate_document

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "hd_ring_attractor"
# Smaller than ci: 32/8 neurons, two candidates, one search epoch, two epochs, two seeds.
TINY = replace(bench.PRESETS["ci"], homogeneous_check=True, choice_costs=True)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process (the same code path as the console script); return code, out, err."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def bench_docs(tmp_path_factory, monkeypatch_module):
    """The ci preset run twice into two folders: the same command must give the same quality."""
    monkeypatch_module.setitem(bench.PRESETS, "ci", TINY)
    docs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name)
        assert main(["bench", "--preset", "ci", "--out", str(out), "--device", "cpu"]) == 0
        docs.append((read_document(out / "benchmark.json"), out))
    return docs


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_benchmark_document_is_valid_and_holds_every_arm_and_comparison(bench_docs):
    doc, out = bench_docs[0]
    validate_document(doc)
    assert list(doc["modes"]) == ["original", "sgd", "sgd_momentum", "optimized"]
    assert doc["seeds"] == [0, 1]
    grids = {
        name: mode["hyperparameters"]["learning_rate"]["search"]["candidates"] for name, mode in doc["modes"].items()
    }
    shared = grids["original"]
    # One grid for every arm, started from the preset's rates and widened until no arm's optimum is on an edge.
    assert {0.01, 0.1} <= set(shared) and shared == sorted(shared), shared
    for name, mode in doc["modes"].items():
        search = mode["hyperparameters"]["learning_rate"]
        assert search["source"] == "search" and search["search"]["candidates"] == shared, name
        for run in mode["runs"]:
            assert 0 <= run["quality_at_budget"] < 180 and run["work"]["epochs"] == 2
            assert set(run["extra"]["test"]["speed_over_omega"]) == {"5", "15", "45", "90", "360"}
    extra = doc["extra_comparisons"]
    for name in ("trained_vs_analytic", "optimizers", "homogeneous", "choice_costs"):
        assert extra[name]["summary"], name
    assert extra["optimizers"]["ranking"][0] in extra["optimizers"]["summary"]
    rivals = extra["opponents"]["by_seed"]["0"]
    assert rivals["analytic_zhang"]["mean_error_deg"] < rivals["untrained_no_velocity_coupling"]["mean_error_deg"]
    assert (out / "hd_ring_attractor_benchmark.png").stat().st_size > 1000


def test_the_same_command_twice_gives_identical_quality(bench_docs):
    (first, _), (second, _) = bench_docs
    for name in first["modes"]:
        assert [r["quality"] for r in first["modes"][name]["runs"]] == [
            r["quality"] for r in second["modes"][name]["runs"]
        ], name
        assert (
            first["modes"][name]["hyperparameters"]["learning_rate"]["search"]["validation_scores"]
            == second["modes"][name]["hyperparameters"]["learning_rate"]["search"]["validation_scores"]
        )


def test_every_flag_has_help_and_help_names_every_subcommand(capsys):
    assert_every_flag_has_help(make_parser())
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "bench", "demo"):
        assert command in out
    for command in ("train", "demo"):
        with pytest.raises(SystemExit):
            make_parser().parse_args([command, "--help"])
        threads = capsys.readouterr().out.rsplit("--threads", 1)[1]
        assert "(default: 1)" in " ".join(threads.split()[:12]), command


def test_console_scripts_follow_the_issue_14_naming():
    scripts = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "hd-ring-attractor": "hd_ring_attractor.cli:entry_point",
        "hd-ring-attractor-bench": "hd_ring_attractor.cli:bench_entry_point",
    }


def test_train_prints_where_it_writes_resumes_and_refuses_a_checkpoint_of_another_size(tmp_path, capsys):
    common = ["train", "--epochs", "1", "--batch-size", "8", "--sequences", "8", "--checkpoint-dir", str(tmp_path)]
    common += ["--val-sequences", "8", "--test-sequences", "8", "--device", "cpu"]
    code, out, err = cli(capsys, *common, "--n-exc", "32", "--n-inh", "8")
    assert code == 0, err
    assert f"checkpoints and plots go to {tmp_path}" in out and "base learning rate 0.001" in out
    metrics = json.loads((tmp_path / "test_metrics.json").read_text())
    assert 0 <= metrics["mean_error_deg"] < 180 and "test: mean_error_deg" in out
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "training_curves.png").is_file()
    code, _, err = cli(capsys, *common, "--n-exc", "48", "--n-inh", "8")
    assert code == 2
    assert "(32, 8)" in err and "(48, 8)" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--threads", "0"], "--threads"),
        (["train", "--heterogeneity", "-1"], "--heterogeneity"),
        (["bench", "--seeds", "0"], "--seeds"),
        (["bench", "--preset", "huge"], "--preset"),
    ],
)
def test_bad_values_get_one_line_errors_before_any_work(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out" if args[0] == "bench" else "--checkpoint-dir", str(tmp_path / "never")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "never").exists() or not any((tmp_path / "never").iterdir())


def test_estimate_writes_a_projection_and_runs_no_preset(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(bench.PRESETS, "ci", TINY)
    code, out, err = cli(capsys, "bench", "--preset", "ci", "--estimate", "--out", str(tmp_path), "--device", "cpu")
    assert code == 0, err
    estimate = json.loads((tmp_path / "cost_estimate.json").read_text())
    assert not (tmp_path / "benchmark.json").exists()
    parts = estimate["parts_cpu_s"]
    assert set(parts) >= {"search", "arm_runs", "choice_cost_whole_trial_backprop"}
    assert estimate["projected_cpu_s"] == pytest.approx(sum(parts.values())) and "CPU minutes" in out


@pytest.mark.slow
def test_fast_demo_and_example_say_what_they_show_and_where_files_went(tmp_path, capsys):
    import importlib.util

    code, out, err = cli(capsys, "demo", "--fast", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    assert "what it shows" in out and f"checkpoints: {tmp_path / 'demo' / 'checkpoints'}" in out
    assert (tmp_path / "demo" / "checkpoints" / "training_curves.png").is_file()
    spec = importlib.util.spec_from_file_location("example", PACKAGE / "examples" / "train_with_adam_cosine.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--fast", "--out", str(tmp_path / "example")]) == 0
    out = capsys.readouterr().out
    assert "what it shows" in out and "g_av: initial 0.0000" in out and "base learning rate 0.01" in out
    assert (tmp_path / "example" / "parameter_evolution.png").is_file()
