"""``train-ppo-optimized``: the same training with every optimization on by default."""

from __future__ import annotations

from collections.abc import Sequence

from ppo_trading.train_cli import train_main


def main(argv: Sequence[str] | None = None) -> int:
    return train_main(argv, "train_ppo_optimized.py", original_by_default=False)


if __name__ == "__main__":
    raise SystemExit(main())
