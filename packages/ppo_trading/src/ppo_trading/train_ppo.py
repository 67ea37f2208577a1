"""``train-ppo``: the original training (a fresh model and a fixed number of timesteps per iteration)."""

from __future__ import annotations

from collections.abc import Sequence

from ppo_trading.train_cli import train_main


def main(argv: Sequence[str] | None = None) -> int:
    return train_main(argv, "train_ppo.py", original_by_default=True)


if __name__ == "__main__":
    raise SystemExit(main())
