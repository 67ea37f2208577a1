"""Every distribution is licensed, typed and versioned in one place."""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))
PROJECTS = [(name, ROOT / "packages" / name, name) for name in PACKAGES] + [
    ("fivebench-trainkit", ROOT / "shared", "trainkit")
]


def test_the_repository_has_a_licence():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize(("dist", "folder", "module"), PROJECTS, ids=[p[0] for p in PROJECTS])
def test_licence_classifiers_typing_and_one_version_source(dist, folder, module):
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert "Typing :: Typed" in project["classifiers"]
    assert (folder / "src" / module / "py.typed").is_file()
    assert importlib.import_module(module).__version__ == metadata.version(dist) == project["version"]
