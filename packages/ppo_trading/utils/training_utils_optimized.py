"""Seed path: the design document runs, from this folder,
``python -c "from utils.training_utils_optimized import clear_optimization_cache; clear_optimization_cache()"``."""

from ppo_trading.utils.training_utils_optimized import *  # noqa: F403
from ppo_trading.utils.training_utils_optimized import clear_optimization_cache  # noqa: F401
