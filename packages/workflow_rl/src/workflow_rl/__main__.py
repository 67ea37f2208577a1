"""``python -m workflow_rl`` and the console scripts (``workflow-rl``, ``workflow-rl-bench``)."""

from __future__ import annotations

import sys

from workflow_rl.cli import main


def entry() -> None:
    sys.exit(main())


def bench_entry() -> None:
    sys.exit(main(["bench", *sys.argv[1:]]))


if __name__ == "__main__":
    entry()
