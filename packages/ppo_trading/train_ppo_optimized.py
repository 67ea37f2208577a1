"""Seed entry point: ``python train_ppo_optimized.py --data_path ../data/XAUUSDm_15min.csv`` (optimized)."""

from ppo_trading.train_ppo_optimized import main

if __name__ == "__main__":
    raise SystemExit(main())
