"""``python -m ppo_trading``: the command line lives in :mod:`ppo_trading.cli`."""

from ppo_trading.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
