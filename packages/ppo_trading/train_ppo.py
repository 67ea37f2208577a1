"""Seed entry point: ``python train_ppo.py --data_path ../data/XAUUSDm_15min.csv`` (original training)."""

from ppo_trading.train_ppo import main

if __name__ == "__main__":
    raise SystemExit(main())
