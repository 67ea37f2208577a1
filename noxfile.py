"""Sessions: tests (default), lint, typecheck, chaos, isolated (one venv per package), slow, bench, distributed.

Every install goes through constraints.txt, which pins torch to the local CPU wheel.
Packages are discovered from packages/*/pyproject.toml, so a new package needs no edit here.
"""

from __future__ import annotations

from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).parent
CONSTRAINTS = str(ROOT / "constraints.txt")
PACKAGES = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))


def _extras_of(name: str) -> set[str]:
    pyproject = tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())
    return set(pyproject["project"].get("optional-dependencies", {}))


RAY_PACKAGES = [name for name in PACKAGES if "distributed" in _extras_of(name)]  # Ray, optional

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, *packages: str, extras: str = "test", peers: bool = False) -> None:
    """Editable installs of trainkit and the given packages, with ``extras`` (and ``peers`` where defined)."""
    targets = ["-e", f"{ROOT / 'shared'}[test]"]
    for name in packages:
        wanted = extras + (",peers" if peers and "peers" in _extras_of(name) else "")
        targets += ["-e", f"{ROOT / 'packages' / name}[{wanted}]"]
    session.install("-c", CONSTRAINTS, *targets)


@nox.session
def tests(session: nox.Session) -> None:
    """All tests except those marked slow (add `-- --runslow` for them)."""
    _install(session, *PACKAGES)
    session.run("pytest", "tests", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def slow(session: nox.Session) -> None:
    """All tests, slow ones included."""
    _install(session, *PACKAGES)
    session.run("pytest", "tests", "--runslow", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def chaos(session: nox.Session) -> None:
    """The bad-input table and the chaos suite (kill -9, SIGTERM, SIGINT and resume every train command)."""
    _install(session, *PACKAGES)
    session.run("pytest", "tests/bad_input", "tests/chaos", "--chaos", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repo."""
    session.install("-c", CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on trainkit (settings in shared/pyproject.toml)."""
    session.install("-c", CONSTRAINTS, "mypy", "-e", f"{ROOT / 'shared'}[test]")
    session.run(
        "mypy", "--config-file", str(ROOT / "shared" / "pyproject.toml"), str(ROOT / "shared" / "src" / "trainkit")
    )


@nox.session
@nox.parametrize("package", PACKAGES)
def isolated(session: nox.Session, package: str) -> None:
    """A fresh venv with only trainkit and one package: proves each package installs on its own."""
    _install(session, package)
    session.run("python", "-c", f"import {package}; print({package}.__name__, 'imports')")
    session.run("pytest", f"tests/{package}", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: every package's `bench` (default --preset quick), then reports/BENCHMARKS.md.

    `-- --preset ci` (or full) writes under reports/<preset>/ and leaves the committed evidence alone.
    The peers each package compares against (sbi, snnTorch, norse) are installed here, pinned.
    """
    _install(session, *PACKAGES, peers=True)
    session.run("python", "-m", "trainkit.suite", "--root", str(ROOT), *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def distributed(session: nox.Session) -> None:
    """The `distributed` extras (Ray), a local 2-CPU Ray cluster, and the tests marked distributed.

    Not part of `tests`: Ray is a heavy install and a cluster takes seconds to start.
    """
    _install(session, *RAY_PACKAGES, extras="test,distributed")
    session.run("ray", "start", "--head", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats")
    try:
        session.run(
            "pytest",
            *[f"tests/{name}" for name in RAY_PACKAGES],
            "--distributed",
            "-m",
            "distributed",
            *session.posargs,
            env={"MPLBACKEND": "Agg", "RAY_ADDRESS": "auto"},
        )
    finally:
        session.run("ray", "stop", "--force")
