"""One iteration's candidates: plain-data specs, training one candidate, and the executor backends."""

from __future__ import annotations

import atexit
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_trading.config import BASE_HYPERPARAMETERS, NETWORK, TrainingConfig
from ppo_trading.env import CostModel, GoldTradingEnv
from ppo_trading.policy_store import (
    build_model,
    load_warm_model,
)
from ppo_trading.validation_callback import ValidationEarlyStopping
from ppo_trading.vec_env import BatchedTradingVecEnv
from ppo_trading.walk_forward import Window
from trainkit import (
    ConfigError,
    seed_everything,
)


@dataclass
class CandidateSpec:
    """One candidate of one iteration; plain data so it can travel to a worker process."""

    config: TrainingConfig
    window: Window
    seed: int
    timesteps: int
    hyperparameters: dict[str, float]
    features: np.ndarray
    open_prices: np.ndarray
    close_prices: np.ndarray
    spread_points: np.ndarray
    warm_start_path: str | None
    warm_start_sha256: str | None
    out_path: str


@dataclass
class CandidateResult:
    val_score: float
    model_path: str
    model_sha256: str | None
    env_steps: int
    wall_s: float
    eval_s: float
    early_stopped: bool
    evals: list[tuple[int, float]] = field(default_factory=list)
    val_equity: list[float] = field(default_factory=list)
    val_positions: list[int] = field(default_factory=list)


def cost_model(config: TrainingConfig) -> CostModel:
    return CostModel(
        point=config.point_size, slippage_points=config.slippage_points, commission_bps=config.commission_bps
    )


def _env(spec: CandidateSpec, start: int, end: int, episode_length: int | None) -> GoldTradingEnv:
    costs = cost_model(spec.config)
    if episode_length is not None:
        episode_length = min(episode_length, end - start - 1)  # small files have short train windows
    return GoldTradingEnv(
        spec.features,
        spec.open_prices,
        spec.close_prices,
        spec.spread_points,
        start=start,
        end=end,
        episode_length=episode_length,
        costs=costs,
    )


def train_candidate(spec: CandidateSpec) -> CandidateResult:
    """Train one candidate on its window's train bars; its score is its best validation score."""
    started = time.perf_counter()
    config, window = spec.config, spec.window
    seed_everything(spec.seed)
    # Episodes end before train_end, so no reward ever touches a validation bar.
    if config.batched_env:  # same trajectories as the DummyVecEnv below (tested), stepped in numpy
        length = min(config.episode_length, window.train_end - window.train_start - 1)
        train_env = BatchedTradingVecEnv(config.n_envs, spec.features, spec.open_prices, spec.close_prices,
                                         spec.spread_points, window.train_start, window.train_end, length,
                                         cost_model(config))  # fmt: skip
    else:
        train_env = DummyVecEnv(
            [lambda: _env(spec, window.train_start, window.train_end, config.episode_length)] * config.n_envs
        )
    val_env = _env(spec, window.val_start, window.val_end, None)
    if spec.warm_start_path is not None and spec.warm_start_sha256 is not None:
        model = load_warm_model(spec.warm_start_path, spec.warm_start_sha256, train_env, spec.hyperparameters,
                                spec.seed, config.device, config.tensorboard_dir)  # fmt: skip
    else:
        fixed = {"n_steps": config.n_steps, "batch_size": config.batch_size, "gamma": config.gamma}
        merged = {**BASE_HYPERPARAMETERS, **fixed, **spec.hyperparameters}
        model = build_model(train_env, {"network": NETWORK, "hyperparameters": merged}, spec.seed, config.device,
                            config.tensorboard_dir)  # fmt: skip
    callback = ValidationEarlyStopping(
        val_env,
        eval_freq=config.eval_freq,
        best_model_path=Path(spec.out_path),
        evaluator="fast" if config.fast_evaluation else "sequential",
        patience=config.early_stopping_patience,
        min_delta=config.convergence_threshold,
    )
    # One TensorBoard run per candidate (SB3 appends _1, _2... when an iteration is trained again on resume).
    model.learn(spec.timesteps, callback=callback, reset_num_timesteps=True, tb_log_name=Path(spec.out_path).stem)
    return CandidateResult(
        val_score=callback.best_score,
        model_path=spec.out_path,
        model_sha256=callback.best_sha256,
        env_steps=int(model.num_timesteps),
        wall_s=time.perf_counter() - started,
        eval_s=callback.eval_seconds,
        early_stopped=callback.early_stopped,
        evals=callback.history,
        val_equity=callback.best_equity,
        val_positions=callback.best_positions,
    )


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    # Ctrl-C reaches the terminal's whole process group: only the parent handles it (one line, exit 130);
    # a worker dying of it would break the pool and turn the interrupt into a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_serial(specs: Sequence[CandidateSpec], workers: int) -> list[CandidateResult]:
    return [train_candidate(spec) for spec in specs]


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """A spawned pool kept alive across iterations: each worker imports torch and SB3 once, not per iteration."""
    pool = _POOLS.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                   initargs=(1,))  # fmt: skip
        _POOLS[workers] = pool
    return pool


@atexit.register
def _shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def _run_processes(specs: Sequence[CandidateSpec], workers: int) -> list[CandidateResult]:
    """Candidates on spawned worker processes, one torch thread each (no oversubscription)."""
    return list(_pool(workers).map(train_candidate, specs))


def _run_ray(specs: Sequence[CandidateSpec], workers: int) -> list[CandidateResult]:
    from ppo_trading.distributed import run_candidates_on_ray  # Ray is an optional extra

    return run_candidates_on_ray(specs, workers)


# The executor seam: every backend takes (specs, workers) and returns results in the order of specs.
BACKENDS: dict[str, Callable[[Sequence[CandidateSpec], int], list[CandidateResult]]] = {  # keys: BACKEND_NAMES
    "serial": _run_serial,
    "process": _run_processes,
    "ray": _run_ray,
}


def run_candidates(
    specs: Sequence[CandidateSpec], backend: str = "process", max_workers: int | None = None
) -> list[CandidateResult]:
    """Train the candidates with ``backend``, at most ``max_workers`` at once.

    By default the process pool uses this machine's CPUs and Ray uses whatever its cluster has.
    A single candidate always runs in this process.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not available; choose from {sorted(BACKENDS)}")
    if len(specs) == 1:
        return _run_serial(specs, 1)
    default = len(specs) if backend == "ray" else os.cpu_count() or 1
    return BACKENDS[backend](specs, min(len(specs), max_workers or default))
