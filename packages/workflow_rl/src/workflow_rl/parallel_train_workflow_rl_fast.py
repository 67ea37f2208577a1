"""The seed's script name for the fast trainer: ``parallel-train-workflow-rl-fast``, or
``python workflow_rl/parallel_train_workflow_rl_fast.py`` from the package folder; the train flags, trainer fixed."""

from __future__ import annotations

import sys

from workflow_rl.cli import train_main


def main() -> None:
    sys.exit(train_main("fast", sys.argv[1:]))


if __name__ == "__main__":
    main()
