"""``train-ppo``: the original training (a fresh model and a fixed number of timesteps per iteration)."""

from __future__ import annotations

from collections.abc import Sequence

from ppo_trading.cli import train_main
from trainkit import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(lambda a: train_main(a, "train_ppo.py", original_by_default=True), argv, prog="train_ppo.py")


if __name__ == "__main__":
    raise SystemExit(main())
