"""The chaos suite: tests marked ``chaos`` run only with ``--chaos`` (``nox -s chaos``).

The option lives here, not in tests/conftest.py; pytest registers it when this folder is on the command line
(``pytest tests/chaos --chaos``). Under a plain ``pytest tests`` the option does not exist and the tests skip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # chaos_harness (tests is not a package)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos",
        action="store_true",
        default=False,
        help="also run tests marked chaos: kill -9/SIGTERM/SIGINT and resume every train command (minutes)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: kills and resumes real training runs; skipped unless --chaos")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("chaos", default=False):
        return
    skip = pytest.mark.skip(reason="chaos: run with --chaos (nox -s chaos)")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
