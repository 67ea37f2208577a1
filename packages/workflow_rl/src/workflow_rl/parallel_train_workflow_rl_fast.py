"""Fast path (the seed's script name): one batched process, update every 50 steps, batched CSV."""

from __future__ import annotations

import sys

from trainkit import run_cli
from workflow_rl.cli import train_main

if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: train_main("fast", argv), prog="parallel_train_workflow_rl_fast"))
