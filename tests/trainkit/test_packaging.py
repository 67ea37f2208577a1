"""trainkit's packaging: one version source, py.typed, license, classifiers, the tensorboard extra."""

import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

import trainkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())


def test_version_comes_from_the_installed_metadata_only():
    assert trainkit.__version__ == importlib.metadata.version("fivebench-trainkit") == PYPROJECT["project"]["version"]
    init = (ROOT / "shared" / "src" / "trainkit" / "__init__.py").read_text()
    assert not re.search(r"__version__\s*=\s*['\"]\d+\.\d", init), "a second, hard-coded version"


def test_py_typed_is_shipped():
    assert importlib.resources.files("trainkit").joinpath("py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["trainkit"]


def test_license_and_classifiers():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "Typing :: Typed" in project["classifiers"]
    assert all(c.startswith("Programming Language") for c in project["classifiers"] if "Python" in c)


def test_tensorboard_is_an_optional_extra_pinned_in_constraints():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(req.startswith("tensorboard") for req in extras["tensorboard"])
    assert not any(req.startswith("tensorboard") for req in PYPROJECT["project"]["dependencies"])
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert any(re.match(r"tensorboard==\d", line) for line in pins)
