"""``train-ppo-optimized``: the same training with every optimization on by default."""

from __future__ import annotations

from collections.abc import Sequence

from ppo_trading.cli import train_main
from trainkit import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    prog = "train_ppo_optimized.py"
    return run_cli(lambda a: train_main(a, prog, original_by_default=False), argv, prog=prog)


if __name__ == "__main__":
    raise SystemExit(main())
