"""The shared package's distribution name is ours alone: no install can resolve PyPI's unrelated `trainkit`."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
DIST = "fivebench-trainkit"


def _dependencies(pyproject: Path) -> list[str]:
    return tomllib.loads(pyproject.read_text())["project"]["dependencies"]


def test_shared_package_has_the_unique_name():
    assert tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]["name"] == DIST


def test_every_package_depends_on_the_unique_name_and_never_on_bare_trainkit():
    pyprojects = sorted(ROOT.glob("packages/*/pyproject.toml"))
    assert len(pyprojects) == 5
    for pyproject in pyprojects:
        names = [re.split(r"[\s<>=!~;\[@]", dep, maxsplit=1)[0].lower() for dep in _dependencies(pyproject)]
        assert DIST in names, pyproject
        assert "trainkit" not in names, pyproject


def test_constraints_pin_the_unique_name():
    lines = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()]
    version = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]["version"]
    assert f"{DIST}=={version}" in lines
    assert not any(line.startswith("trainkit") for line in lines)
