"""ppo_trading: a walk-forward RecurrentPPO gold trader, original vs optimized training, measured."""

from importlib import metadata as _metadata

from ppo_trading.data import generate_synthetic_xauusd, load_ohlc
from ppo_trading.env import ENV_ID, GoldTradingEnv
from ppo_trading.features import clear_optimization_cache, compute_features

__all__ = [
    "ENV_ID",
    "GoldTradingEnv",
    "clear_optimization_cache",
    "compute_features",
    "generate_synthetic_xauusd",
    "load_ohlc",
]
__version__ = _metadata.version("ppo_trading")  # one version source: pyproject.toml
