"""Small real inputs shared by the ppo_trading tests."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from ppo_trading.data import generate_synthetic_xauusd
from ppo_trading.features import compute_features, standardize


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Training here is tiny; two threads on a busy 2-core machine only fight each other."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def private_feature_cache(tmp_path, monkeypatch):
    """Tests never write to the user's ~/.cache."""
    monkeypatch.setenv("PPO_TRADING_CACHE", str(tmp_path / "feature_cache"))


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    return generate_synthetic_xauusd(4_000, seed=11)


@pytest.fixture(scope="session")
def arrays(bars):
    features, _, _ = standardize(compute_features(bars), slice(100, 2100))
    prices = (bars["open"].to_numpy(float), bars["close"].to_numpy(float), bars["spread"].to_numpy(float))
    return features, prices


@pytest.fixture()
def tiny_config_kwargs(tmp_path) -> dict:
    """Two walk-forward iterations of 512 steps: seconds on a CPU."""
    return {
        "seed": 3,
        "total_timesteps": 512,
        "min_timesteps": 256,
        "iterations": 2,
        "eval_freq": 512,
        "feature_cache_dir": str(tmp_path / "cache"),
        "verbose": 0,
    }
