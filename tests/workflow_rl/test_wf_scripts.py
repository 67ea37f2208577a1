"""The design document's commands work as written from the package folder, and every flag has help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_rl.cli import make_parser

from trainkit.cli import assert_every_flag_has_help

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "workflow_rl"
BIN = Path(sys.executable).parent


def test_every_flag_has_help():
    assert_every_flag_has_help(make_parser())


SLOW = pytest.mark.slow  # each starts a Python that imports torch: seconds apiece on a busy machine


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "parallel-train-workflow-rl-fast"), "--help"],
        [sys.executable, "workflow_rl/parallel_train_workflow_rl_fast.py", "--help"],
        pytest.param([str(BIN / "parallel-train-workflow-rl"), "--help"], marks=SLOW),
        pytest.param([str(BIN / "workflow-rl"), "--help"], marks=SLOW),
        pytest.param([str(BIN / "workflow-rl-bench"), "--help"], marks=SLOW),
        pytest.param([sys.executable, "workflow_rl/parallel_train_workflow_rl.py", "--help"], marks=SLOW),
        pytest.param([sys.executable, "test_fast_training.py", "--help"], marks=SLOW),
    ],
)
def test_design_document_command_runs_help_from_the_package_folder(command):
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed here (pip install -e packages/workflow_rl)")
    done = subprocess.run(command, cwd=PACKAGE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and "--help" in done.stdout


@SLOW
def test_run_fast_training_sh_trains_with_the_documents_settings(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    env = {**os.environ, "PYTHON": sys.executable}
    # the document's settings, then a short budget and an output folder appended (the script passes "$@" on)
    extra = [
        "--total-episodes",
        "200",
        "--max-episodes",
        "200",
        "--workflow",
        "user,op_host,op_server,enterprise,defender",
    ]
    done = subprocess.run(
        ["./run_fast_training.sh", *extra, "--eval-episodes", "8", "--out", str(tmp_path)],
        cwd=PACKAGE,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["trainer"] == "fast" and summary["episodes"] == 200


def test_the_speed_comparison_writes_only_under_its_output_folder(tmp_path):
    """Run as a user would (no --out), it writes logs/speed_comparison.json under the working folder, no
    file beside it, and a symlink given as --out is refused."""
    script = str(PACKAGE / "test_fast_training.py")
    tiny = ["--n-envs", "2", "--episodes", "2", "--seeds", "1"]
    done = subprocess.run([sys.executable, script, *tiny], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["logs/speed_comparison.json"], written
    assert json.loads((tmp_path / "logs" / "speed_comparison.json").read_text())["episodes"] == 2
    (tmp_path / "elsewhere.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    refused = subprocess.run([sys.executable, script, *tiny, "--out", "link.json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert (tmp_path / "elsewhere.json").read_text() == "{}"
