"""``python -m workflow_rl``: errors become one line on stderr (``trainkit.run_cli``)."""

from __future__ import annotations

import sys

from trainkit import run_cli
from workflow_rl.cli import main


def entry() -> None:
    sys.exit(run_cli(main, prog="workflow_rl"))


def bench_entry() -> None:
    sys.exit(run_cli(lambda argv: main(["bench", *(sys.argv[1:] if argv is None else argv)]), prog="workflow_rl"))


if __name__ == "__main__":
    entry()
