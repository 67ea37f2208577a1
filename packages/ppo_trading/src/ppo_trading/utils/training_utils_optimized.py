"""The seed's module path, kept as a thin re-export: the code lives in one module per concept.

- :mod:`ppo_trading.config`: ``TrainingConfig``, the network, schedules and the adaptive budget
- :mod:`ppo_trading.validation_callback`: ``ValidationEarlyStopping``
- :mod:`ppo_trading.candidates`: candidate specs, ``train_candidate`` and the executor backends
- :mod:`ppo_trading.training_loop`: ``train_walk_forward_optimized`` (read it top to bottom)
- :mod:`ppo_trading.run_report`: the test block, the stitched out-of-sample report and the summary
"""

from ppo_trading.candidates import (
    BACKENDS,
    CandidateResult,
    CandidateSpec,
    cost_model,
    run_candidates,
    train_candidate,
)
from ppo_trading.config import (
    BASE_HYPERPARAMETERS,
    CUSTOM_SCHEDULE,
    NETWORK,
    TRAINING_SCHEDULES,
    TrainingConfig,
    calculate_adaptive_timesteps,
    get_progressive_hyperparameters,
)
from ppo_trading.features import clear_optimization_cache
from ppo_trading.run_report import build_summary, evaluate_on_test, stitched_report, write_json_atomic
from ppo_trading.training_loop import publish_best_model, read_progress, train_walk_forward_optimized
from ppo_trading.validation_callback import ValidationEarlyStopping

__all__ = [
    "BACKENDS",
    "BASE_HYPERPARAMETERS",
    "CUSTOM_SCHEDULE",
    "NETWORK",
    "TRAINING_SCHEDULES",
    "CandidateResult",
    "CandidateSpec",
    "TrainingConfig",
    "ValidationEarlyStopping",
    "build_summary",
    "calculate_adaptive_timesteps",
    "clear_optimization_cache",
    "cost_model",
    "evaluate_on_test",
    "get_progressive_hyperparameters",
    "publish_best_model",
    "read_progress",
    "run_candidates",
    "stitched_report",
    "train_candidate",
    "train_walk_forward_optimized",
    "write_json_atomic",
]
