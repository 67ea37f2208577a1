"""Original path (the seed's script name): one process per env, shared memory, update every 100 steps."""

from __future__ import annotations

import sys

from trainkit import run_cli
from workflow_rl.cli import train_main

if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: train_main("original", argv), prog="parallel_train_workflow_rl"))
