"""No loader in our code can execute code from a file: a static audit of every call that reads a file.

SECURITY.md lists each loader and the test that plants a payload for it; this test fails when a new call
that can unpickle (or evaluate) appears anywhere in shared/ or packages/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for folder in ("shared/src", "packages") for p in (ROOT / folder).rglob("*.py") if ".egg-info" not in str(p)
)
FORBIDDEN_ATTRIBUTES = {
    "restore_from_path": "RLlib unpickles state.pkl",
    "from_checkpoint": "RLlib/Tune unpickle checkpoints",
}
UNPICKLING_MODULES = {"pickle", "cloudpickle", "dill", "joblib", "marshal", "shelve"}
SB3_CLASSES = {"PPO", "RecurrentPPO", "A2C", "DQN", "SAC", "TD3", "BaseAlgorithm"}


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def _problems(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{path.relative_to(root)}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id in {"eval", "exec"}:
            found.append(f"{where}: {func.id}()")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if owner in UNPICKLING_MODULES and func.attr in {"load", "loads", "Unpickler"}:
            found.append(f"{where}: {owner}.{func.attr} unpickles")
        if func.attr in ("restore_from_path", "from_checkpoint"):
            found.append(f"{where}: {func.attr}: {FORBIDDEN_ATTRIBUTES[func.attr]}")
        if owner == "torch" and func.attr == "load" and _keyword(node, "weights_only") is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        if owner == "np" and func.attr == "load" and _keyword(node, "allow_pickle") is not False:
            found.append(f"{where}: np.load without allow_pickle=False")
        if owner in SB3_CLASSES and func.attr == "load":
            found.append(f"{where}: {owner}.load unpickles")
        if owner == "yaml" and func.attr == "load":
            found.append(f"{where}: yaml.load (use safe_load)")
        if _keyword(node, "shell") is True:
            found.append(f"{where}: subprocess with shell=True")
    return found


def test_sources_were_found():
    assert len(SOURCES) > 50


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_call_can_execute_code_from_a_file(path):
    assert _problems(path) == []


def test_the_audit_catches_what_it_forbids(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import pickle, torch, numpy as np\n"
        "pickle.loads(b'')\ntorch.load('x')\nnp.load('x')\nRecurrentPPO.load('m')\nalgo.restore_from_path('p')\n"
        "torch.load('x', weights_only=True)\nnp.load('x', allow_pickle=False)\n"
    )
    assert len(_problems(probe, root=tmp_path)) == 5
