"""One CLI convention for all five packages: every flag has help, every console script answers --help."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from trainkit.cli import TrainkitArgumentParser, assert_every_flag_has_help, iter_parsers

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))
SCRIPTS = sorted(
    (package, name)
    for package in PACKAGES
    for name in tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]["scripts"]
)
# The design documents' commands, which must exist as console scripts (issue 14).
DESIGN_DOCUMENT_COMMANDS = {
    "train-ppo",
    "train-ppo-optimized",
    "compare-training-methods",
    "parallel-train-workflow-rl",
    "parallel-train-workflow-rl-fast",
    "train-early-inference",
    "generate-early-inference-data",
    "neuro-gym",
    "hd-ring-attractor",
}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_flag_of_every_subcommand_has_help(package):
    parser = importlib.import_module(f"{package}.cli").make_parser()
    assert parser.prog == f"python -m {package}"
    assert all(isinstance(p, TrainkitArgumentParser) for p in iter_parsers(parser))
    assert_every_flag_has_help(parser)


def test_scripts_follow_one_naming_style_and_include_the_design_documents_commands():
    names = {name for _, name in SCRIPTS}
    assert names >= DESIGN_DOCUMENT_COMMANDS
    assert all("_" not in name for name in names), sorted(n for n in names if "_" in n)
    for package in PACKAGES:
        assert f"{package.replace('_', '-')}-bench" in names


@pytest.mark.parametrize(("package", "script"), SCRIPTS)
def test_every_console_script_answers_help(package, script):
    executable = shutil.which(script, path=os.path.dirname(sys.executable))
    assert executable, f"{script} is not installed next to {sys.executable}; reinstall {package}"
    proc = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout and "Traceback" not in proc.stderr
