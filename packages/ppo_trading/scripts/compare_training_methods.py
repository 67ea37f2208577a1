"""Seed entry point: ``python scripts/compare_training_methods.py --original results/42 --optimized results/999``."""

from ppo_trading.compare import main

if __name__ == "__main__":
    raise SystemExit(main())
