"""The trainer's settings. The original and the fast trainer differ only in the fields ``ORIGINAL`` and
``FAST`` set (:func:`with_trainer`); the CLI's ``train`` flags are generated from :class:`TrainConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trainkit import ConfigError
from trainkit import validate as v
from trainkit.cli import tensorboard_dir
from workflow_rl.sim import EPISODE_STEPS, RED_AGENTS
from workflow_rl.workflows import DEFAULT_ALIGNMENT_LAMBDA, parse_workflow

__all__ = ["FAST", "INTERNAL_FIELDS", "ORIGINAL", "TRAINERS", "TrainConfig", "TrainResult", "with_trainer"]


def _workflow(text: str) -> tuple[int, ...]:
    try:
        return parse_workflow(text)
    except ConfigError as error:
        raise v.ValidationError(str(error)) from None


def _threshold(text: str) -> float:
    value = v.probability(text)
    if value == 0.0:
        raise v.ValidationError("--compliance-threshold must be in (0, 1]")
    return value


def _help(text: str, **more: Any) -> dict[str, Any]:
    return {"help": text, **more}


# A bound before any allocation: one env's rollout buffer is about 18 kB per 50 steps, so 16384 envs ~ 300 MB.
MAX_ENVS = v.int_in_range(1, 16385)


@dataclass(frozen=True)
class TrainConfig:
    n_envs: int = field(default=200, metadata=_help("parallel environments, at most 16384", type=MAX_ENVS))
    total_episodes: int = field(default=100_000, metadata=_help("episode budget of the whole run", type=v.positive_int))
    max_episodes: int = field(default=50, metadata=_help("episode cap per workflow", type=v.positive_int))
    update_steps: int = field(
        default=50,
        metadata=_help(
            "env steps per PPO update (must divide the 100-step episode or be a multiple)", type=v.positive_int
        ),
    )
    red_agent: str = field(default="bline", metadata=_help("scripted attacker", choices=RED_AGENTS))
    workflow: tuple[int, ...] | None = field(
        default=None,
        metadata=_help(
            "train one workflow, e.g. op_server,enterprise,defender,op_host,user (default: GP-UCB search)",
            type=_workflow,
        ),
    )
    seed: int = field(default=0, metadata=_help("random seed, in [0, 2**32)", type=v.seed))
    device: str = field(
        default="auto", metadata=_help("auto = CUDA when available, else CPU", choices=("auto", "cpu", "cuda"))
    )
    out: Path | None = field(
        default=None,
        metadata=_help("log folder (default logs/exp_<timestamp>_<trainer>/); rerun to resume", type=v.output_dir),
    )
    alignment_lambda: float = field(
        default=DEFAULT_ALIGNMENT_LAMBDA,
        metadata=_help("alignment reward per compliant/violating fix", type=v.nonnegative_float),
    )
    compliance_threshold: float | None = field(
        default=0.95, metadata=_help("stop a workflow at this compliance", type=_threshold)
    )
    patience: int = field(
        default=0,
        metadata=_help("stop a workflow after this many checks without gain (0 = off)", type=v.nonnegative_int),
    )
    min_episodes: int = field(
        default=0, metadata=_help("episodes per workflow before early stopping may stop it", type=v.nonnegative_int)
    )
    lr: float = field(default=1e-3, metadata=_help("Adam learning rate", type=v.learning_rate))
    reward_scale: float = field(
        default=0.1, metadata=_help("PPO sees reward x this; logs show raw returns", type=v.positive_float)
    )
    mixed_precision: bool = field(default=False, metadata=_help("bfloat16 autocast in updates (CUDA only)"))
    torch_threads: int = field(
        default=1, metadata=_help("torch intra-op threads, at most the usable cores", type=v.threads)
    )
    checkpoint_every_s: float = field(
        default=30.0, metadata=_help("seconds between checkpoints (at episode boundaries)", type=v.nonnegative_float)
    )
    eval_episodes: int = field(
        default=200, metadata=_help("seeded evaluation episodes at the end", type=v.positive_int)
    )
    compile: bool = field(default=False, metadata=_help("torch.compile the PPO loss (compile time reported apart)"))
    tensorboard: Path | None = field(
        default=None,
        metadata=_help(
            "also write TensorBoard scalars under DIR (episode rows, PPO losses, lr, env steps/s, the final "
            "evaluation; needs the tensorboard extra); view with: tensorboard --logdir DIR",
            type=tensorboard_dir,
            metavar="DIR",
        ),
    )
    # Set by the trainer choice (ORIGINAL / FAST), not by flags:
    engine: str = field(default="batched", metadata=_help("batched or shared_memory (original)"))
    csv_batch_size: int = field(default=100, metadata=_help("episode rows per CSV write; 1 = flush every row"))
    start_method: str = field(default="fork", metadata=_help("multiprocessing start method of the original path"))
    fused_adam: bool = field(default=False, metadata=_help("one Adam kernel over all parameters (same maths)"))
    fused_forward: bool = field(default=False, metadata=_help("actor and critic layers as stacked matmuls"))

    def validate(self) -> None:
        if self.n_envs < 1 or self.total_episodes < 1 or self.max_episodes < 1:
            raise ConfigError("--n-envs, --total-episodes and --max-episodes must all be >= 1")
        if self.update_steps < 1 or not (
            EPISODE_STEPS % self.update_steps == 0 or self.update_steps % EPISODE_STEPS == 0
        ):
            raise ConfigError(
                f"--update-steps {self.update_steps}: must divide or be a multiple of the {EPISODE_STEPS}-step episode"
            )
        if self.red_agent not in RED_AGENTS:
            raise ConfigError(f"--red-agent must be one of {', '.join(RED_AGENTS)}")
        if self.engine not in ("batched", "shared_memory"):
            raise ConfigError(f"engine must be batched or shared_memory, got {self.engine!r}")
        if self.engine == "shared_memory" and self.n_envs > 256:
            raise ConfigError(f"--n-envs {self.n_envs}: the one-process-per-env path is capped at 256 workers")
        if self.compliance_threshold is not None and not 0.0 < self.compliance_threshold <= 1.0:
            raise ConfigError("--compliance-threshold must be in (0, 1]")
        if self.csv_batch_size < 1:
            raise ConfigError("csv batch size must be >= 1")


INTERNAL_FIELDS = ("engine", "csv_batch_size", "start_method", "fused_adam", "fused_forward")
ORIGINAL = {
    "engine": "shared_memory",
    "update_steps": 100,
    "csv_batch_size": 1,
    "fused_adam": False,
    "fused_forward": False,
}
FAST = {"engine": "batched", "update_steps": 50, "csv_batch_size": 100, "fused_adam": True}
TRAINERS = {"original": ORIGINAL, "fast": FAST}
# The stacked forward saves CPU per update up to here and costs more above (measured per N; README).
FUSED_FORWARD_MAX_ENVS = 64


def with_trainer(config: TrainConfig, trainer: str) -> TrainConfig:
    """``config`` with the original or the fast trainer's settings."""
    if trainer not in TRAINERS:
        raise ConfigError(f"unknown trainer {trainer!r}; use original or fast")
    config = replace(config, **TRAINERS[trainer])
    if trainer == "fast":
        config = replace(config, fused_forward=config.n_envs <= FUSED_FORWARD_MAX_ENVS)
    return config


@dataclass
class TrainResult:
    out: Path
    episodes: int
    env_steps: int
    updates: int
    wall_s: float  # whole run: engine start-up, training loop, logging (evaluation excluded)
    loop_s: float  # training loop only (what the throughput table uses)
    time_split: dict[str, float]  # wall seconds per section
    workflows: list[dict[str, Any]]
    eval_return: float
    eval_compliance: float
    resumed_from: int = 0
    cpu_split: dict[str, float] = field(default_factory=dict)  # process CPU seconds per section (this process)
    compile_s: float = 0.0  # torch.compile's warm-up (compiling the loss and its backward), not in loop_s
    curve: list[tuple[int, float]] = field(default_factory=list)  # (episodes, mean env return of the batch)

    @property
    def episodes_per_s(self) -> float:
        return (self.episodes - self.resumed_from) / self.loop_s if self.loop_s > 0 else math.nan

    @property
    def steps_per_s(self) -> float:
        return self.episodes_per_s * EPISODE_STEPS
