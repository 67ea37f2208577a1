"""Everything that decides a training run: ``TrainingConfig`` (original and optimized are two of them), the
network, the hyperparameter schedules and the adaptive timestep budget."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from trainkit import (
    ConfigError,
    Phase,
    PhaseSchedule,
    geometric_budget,
)

BACKEND_NAMES = ("serial", "process", "ray")  # executors for the candidates (candidates.BACKENDS)

# Both modes train this network; only the training procedure differs.
NETWORK = {"lstm_hidden_size": 64, "n_lstm_layers": 1, "net_arch": {"pi": [64], "vf": [64]}}
BASE_HYPERPARAMETERS = {"learning_rate": 3e-4, "n_epochs": 4, "ent_coef": 0.01, "clip_range": 0.2}

# The progressive schedule: big steps and exploration early, small careful steps late.
TRAINING_SCHEDULES = PhaseSchedule(
    [
        Phase("aggressive", 0.3, {"learning_rate": 1e-3, "n_epochs": 3, "ent_coef": 0.02, "clip_range": 0.2}),
        Phase("balanced", 0.7, {"learning_rate": 5e-4, "n_epochs": 4, "ent_coef": 0.01, "clip_range": 0.2}),
        Phase("fine_tune", 1.0, {"learning_rate": 2.5e-4, "n_epochs": 4, "ent_coef": 0.005, "clip_range": 0.1}),
    ]
)
# Fixed profiles selectable with --custom_schedule (used for every iteration).
CUSTOM_SCHEDULE = {
    "ultra_fast": {"learning_rate": 3e-3, "n_epochs": 3, "ent_coef": 0.1},
}


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run. ``original()`` and ``optimized()`` are the two modes."""

    seed: int = 42
    total_timesteps: int = 50_000
    min_timesteps: int = 15_000
    timestep_decay: float = 0.95
    adaptive_timesteps: bool = True
    warm_start: bool = True
    early_stopping_patience: int = 3
    convergence_threshold: float = 0.05
    # Off by default: in development runs it lowered out-of-sample quality; the bench measures it every run.
    progressive_training: bool = False
    cache_environments: bool = True
    fast_evaluation: bool = True
    batched_env: bool = True  # BatchedTradingVecEnv instead of DummyVecEnv: same trajectories, less overhead
    custom_schedule: str | None = None
    iterations: int | None = None
    eval_freq: int = 5_000
    episode_length: int = 256
    n_envs: int = 16
    n_steps: int = 16
    batch_size: int = 256
    gamma: float = 0.99
    point_size: float = 0.001
    slippage_points: float = 10.0
    commission_bps: float = 0.0
    bars_per_year: float = 23_600.0
    train_bars: int | None = None
    val_bars: int | None = None
    test_fraction: float = 0.2
    parallel_candidates: int = 1
    backend: str = "process"
    max_workers: int | None = None
    ray_address: str | None = None
    torch_threads: int = 1
    device: str = "cpu"
    feature_cache_dir: str | None = None
    verbose: int = 1
    tensorboard_dir: str | None = None  # --tensorboard: SB3's scalars per candidate and the walk-forward log

    @classmethod
    def original(cls, **overrides: Any) -> TrainingConfig:
        """A fresh model and a fixed budget every iteration; validation only picks the checkpoint."""
        flags = {
            "adaptive_timesteps": False,
            "warm_start": False,
            "early_stopping_patience": 0,
            "progressive_training": False,
            "cache_environments": False,
            "fast_evaluation": False,
            "batched_env": False,
        }
        return cls(**{**flags, **overrides})

    @classmethod
    def optimized(cls, **overrides: Any) -> TrainingConfig:
        return cls(**overrides)

    def check(self) -> None:
        positive = {"--point_size": self.point_size, "bars per year": self.bars_per_year}
        for flag, value in {**positive, "--slippage_points": self.slippage_points,
                            "--commission": self.commission_bps}.items():  # fmt: skip
            if not math.isfinite(value) or value < 0 or (flag in positive and value == 0):
                raise ConfigError(
                    f"{flag} must be a finite number {'> 0' if flag in positive else '>= 0'}, got {value}"
                )
        if self.total_timesteps < 1 or self.min_timesteps < 1:
            raise ConfigError("--total_timesteps and --min_timesteps must be >= 1")
        if self.min_timesteps > self.total_timesteps:
            raise ConfigError(f"--min_timesteps {self.min_timesteps} exceeds --total_timesteps {self.total_timesteps}")
        if self.early_stopping_patience < 0 or self.convergence_threshold < 0:
            raise ConfigError("--early_stopping_patience and --convergence_threshold must be >= 0")
        if self.parallel_candidates < 1:
            raise ConfigError(f"--parallel_candidates must be >= 1, got {self.parallel_candidates}")
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"backend {self.backend!r} is not available; choose from {sorted(BACKEND_NAMES)}")
        if self.max_workers is not None and self.max_workers < 1:
            raise ConfigError(f"--max_workers must be >= 1, got {self.max_workers}")
        if self.ray_address is not None and self.backend != "ray":
            raise ConfigError("--ray-address needs --backend ray")
        if self.custom_schedule is not None and self.custom_schedule not in CUSTOM_SCHEDULE:
            raise ConfigError(f"--custom_schedule must be one of {sorted(CUSTOM_SCHEDULE)}")
        rollout = self.n_envs * self.n_steps
        if self.eval_freq < rollout or self.eval_freq % rollout or self.episode_length < 2:
            raise ConfigError(
                f"--eval_freq must be a multiple of the rollout ({rollout} env steps), so that every check "
                f"sees new weights; got {self.eval_freq}"
            )

    @property
    def mode(self) -> str:
        optimizations = (
            self.adaptive_timesteps,
            self.warm_start,
            self.early_stopping_patience > 0,
            self.cache_environments,
            self.fast_evaluation,
        )
        return "optimized" if all(optimizations) else "original" if not any(optimizations) else "partial"

    def fingerprint(self) -> str:
        """What a resumed run must share with the run it continues (not verbosity, paths or the executor)."""
        executor = ("verbose", "feature_cache_dir", "backend", "max_workers", "ray_address", "torch_threads", "device",
                    "tensorboard_dir")  # fmt: skip
        relevant = {k: v for k, v in asdict(self).items() if k not in executor}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def calculate_adaptive_timesteps(iteration: int, total_timesteps: int, min_timesteps: int, decay: float = 0.95) -> int:
    """``T_i = max(min_timesteps, total_timesteps * decay**i)``."""
    return geometric_budget(total_timesteps, decay, min_timesteps, iteration)


def get_progressive_hyperparameters(iteration: int, n_iterations: int) -> dict[str, float]:
    """The phase's hyperparameters for iteration ``iteration`` of ``n_iterations``."""
    return TRAINING_SCHEDULES.at(iteration / max(n_iterations, 1))
