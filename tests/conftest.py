"""Shared pytest setup: `slow` (run with `--runslow`) and `distributed` (run with `--distributed`).

Tests run as CI does (``CI=1``): progress lines, which a command prints when its output is not a terminal,
stay out of the stderr that tests compare line by line. A test of the progress lines unsets it itself.
"""

from __future__ import annotations

import os

import pytest

os.environ["CI"] = os.environ.get("CI") or "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption(
        "--distributed",
        action="store_true",
        default=False,
        help="also run tests marked distributed (they need the Ray extras; nox -s distributed)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "slow": (config.getoption("--runslow"), "slow: run with --runslow (nox -s slow)"),
        "distributed": (config.getoption("--distributed"), "needs Ray: run with --distributed (nox -s distributed)"),
    }
    for marker, (enabled, reason) in skips.items():
        if enabled:
            continue
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
