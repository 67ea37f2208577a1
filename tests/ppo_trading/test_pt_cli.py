from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ppo_trading import train_ppo, train_ppo_optimized
from ppo_trading.cli import main as package_main
from ppo_trading.data import generate_synthetic_xauusd, write_ohlc_csv
from ppo_trading.train_cli import build_parser, config_from_args


def _config(argv, original=False):
    args = build_parser("x", original_by_default=original).parse_args(argv)
    return config_from_args(args, original=args.use_original_training)


def test_every_seed_flag_parses_into_the_config():
    optimized = _config(["--preset", "quick"])
    assert optimized.mode == "optimized" and optimized.early_stopping_patience == 3
    off = _config(["--no-adaptive_timesteps", "--no-warm_start", "--early_stopping_patience", "0",
                   "--no-progressive_training", "--no-cache_environments", "--no-fast_evaluation"])  # fmt: skip
    assert off.mode == "original"
    assert _config(["--use_original_training"]).mode == "original"
    assert _config([], original=True).mode == "original"
    assert _config(["--warm_start"], original=True).warm_start is True
    custom = _config(["--total_timesteps", "30000", "--min_timesteps", "10000", "--convergence_threshold", "0.2",
                      "--parallel_candidates", "3", "--custom_schedule", "ultra_fast", "--device", "auto"])  # fmt: skip
    assert (custom.total_timesteps, custom.min_timesteps, custom.convergence_threshold) == (30000, 10000, 0.2)
    assert custom.parallel_candidates == 3 and custom.custom_schedule == "ultra_fast"
    full = _config([])
    assert (full.total_timesteps, full.min_timesteps) == (50_000, 15_000)


def test_malformed_csv_gets_one_line_and_a_nonzero_exit(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open,high,low,close\n2024-01-02 00:00,1,2,0.5,1\n2024-01-02 00:15,1,0.2,0.1,1\n")
    code = train_ppo_optimized.main(["--data_path", str(bad), "--results_dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(bad) in err and "row 3" in err and "high" in err
    assert train_ppo.main(["--data_path", str(tmp_path / "missing.csv"), "--results_dir", str(tmp_path / "r")]) == 2
    assert not any((tmp_path / "r").rglob("*"))  # probed before any work, nothing written


def test_impossible_flags_get_one_line(tmp_path, capsys):
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_000, 1), tmp_path / "bars.csv")
    out = ["--results_dir", str(tmp_path / "r")]  # never the working directory
    code = train_ppo_optimized.main(
        ["--data_path", str(csv), "--total_timesteps", "100", "--min_timesteps", "500", *out]
    )
    assert code == 2 and "exceeds" in capsys.readouterr().err
    code = train_ppo_optimized.main(["--data_path", str(csv), "--preset", "ci", "--iterations", "50", *out])
    assert code == 2 and "fit" in capsys.readouterr().err


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as caught:
        package_main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "bench", "compare", "generate-data", "clear-cache"):
        assert command in out


def test_generate_data_command_is_deterministic(tmp_path):
    for name in ("a.csv", "b.csv"):
        assert package_main(["generate-data", "--n_bars", "300", "--seed", "4", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.mark.slow
def test_benchmark_mode_measures_the_speedup(tmp_path):
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_000, 1), tmp_path / "bars.csv")
    code = train_ppo_optimized.main(["--data_path", str(csv), "--preset", "ci", "--benchmark_mode", "--seed", "5",
                                     "--results_dir", str(tmp_path / "results"), "--verbose", "0"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "results" / "5" / "optimized" / "optimization_summary.json").read_text())
    comparison = json.loads((tmp_path / "results" / "5" / "benchmark_comparison.json").read_text())
    walls = comparison["wall_s"]
    assert summary["total_speedup_achieved"] == pytest.approx(walls["original"] / walls["optimized"])


@pytest.mark.slow
def test_parallel_candidates_in_worker_processes(tmp_path):
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_000, 1), tmp_path / "bars.csv")
    code = train_ppo_optimized.main(["--data_path", str(csv), "--preset", "ci", "--iterations", "1",
                                     "--parallel_candidates", "2", "--backend", "process",
                                     "--results_dir", str(tmp_path), "--verbose", "0"])  # fmt: skip
    assert code == 0
    rows = (tmp_path / "42" / "training_log.csv").read_text().splitlines()
    assert len(rows) == 3  # header + 2 candidates


@pytest.mark.slow
def test_killed_run_resumes_and_keeps_its_log(tmp_path):
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_500, 1), tmp_path / "bars.csv")
    command = [sys.executable, "-m", "ppo_trading", "train", "--data_path", str(csv), "--preset", "ci",
               "--iterations", "3", "--max_bars", "4500", "--results_dir", str(tmp_path / "results"),
               "--verbose", "0"]  # fmt: skip
    env = {**os.environ, "PPO_TRADING_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = tmp_path / "results" / "42" / "training_log.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    time.sleep(0.5)  # now inside iteration 1 (of 0..2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows_before = log.read_text().splitlines()
    assert len(rows_before) >= 2
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    rows = log.read_text().splitlines()
    assert rows[: len(rows_before)] == rows_before  # the log keeps its rows
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    summary = json.loads((tmp_path / "results" / "42" / "optimization_summary.json").read_text())
    assert summary["optimization_completed"] and summary["resumed_from_iteration"] >= 1
    assert not [p for p in Path(tmp_path / "results" / "42").iterdir() if p.name.endswith(".tmp")]


def test_base_install_never_imports_ray_and_names_the_extra_when_it_is_missing():
    code = (
        "import sys; sys.modules['ray'] = None\n"  # what Python sees when Ray is not installed
        "import ppo_trading.cli, ppo_trading.distributed\n"
        "from trainkit import ConfigError\n"
        "try:\n    ppo_trading.distributed.require_ray()\nexcept ConfigError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "pip install 'ppo_trading[distributed]'" in done.stdout
    parsed = _config(["--backend", "ray", "--ray-address", "auto", "--max_workers", "2"])
    assert (parsed.backend, parsed.ray_address, parsed.max_workers) == ("ray", "auto", 2)


def test_the_design_documents_console_scripts_exist_and_answer_help(capsys):
    import importlib

    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "packages" / "ppo_trading" / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert {"train-ppo", "train-ppo-optimized", "compare-training-methods"} <= set(scripts)
    for name, target in scripts.items():
        module, function = target.split(":")
        with pytest.raises(SystemExit) as caught:
            getattr(importlib.import_module(module), function)(["--help"])
        assert caught.value.code == 0, name
        assert "usage" in capsys.readouterr().out.lower()


def test_every_flag_has_help_kebab_case_and_the_documents_snake_case(capsys):
    from ppo_trading.cli import make_parser

    from trainkit.cli import assert_every_flag_has_help

    assert_every_flag_has_help(make_parser())
    assert_every_flag_has_help(build_parser("x", original_by_default=False))
    snake = _config(["--total_timesteps", "1024", "--min_timesteps", "512", "--no-warm_start"])
    kebab = _config(["--total-timesteps", "1024", "--min-timesteps", "512", "--no-warm-start"])
    assert snake == kebab and snake.total_timesteps == 1024 and not snake.warm_start


@pytest.mark.parametrize(
    "flags",
    [["--seed", "-1"], ["--seed", str(2**40)], ["--total_timesteps", "0"], ["--iterations", "0"],
     ["--commission", "nan"], ["--point-size", "-0.1"], ["--test_fraction", "inf"], ["--parallel_candidates", "0"]],
)  # fmt: skip
def test_bad_numbers_are_one_line_and_exit_2_before_any_work(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as caught:  # argparse stops before the command runs
        train_ppo_optimized.main(["--data_path", str(tmp_path / "none.csv"), "--results_dir", str(tmp_path / "r"),
                                  *flags])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert caught.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_design_documents_cache_command_runs_from_the_package_folder(tmp_path):
    command = "from utils.training_utils_optimized import clear_optimization_cache; clear_optimization_cache()"
    proc = subprocess.run(
        [sys.executable, "-c", command],
        cwd=Path(__file__).resolve().parents[2] / "packages" / "ppo_trading",
        env={**os.environ, "PPO_TRADING_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
