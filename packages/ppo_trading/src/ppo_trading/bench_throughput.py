"""RecurrentPPO env steps per CPU-second on DummyVecEnv vs the batched VecEnv, and where a step's CPU goes.

The batched env can only remove environment time. Each set-up's ``RecurrentPPO.learn`` is split by CPU time
(``time.process_time`` around the calls) into: the VecEnv's step, the policy's forward in the rollout
(the LSTM under ``no_grad``), the update (``train``: forward and backward over the rollout, Adam) and the
rest (SB3's buffer and tensor conversions). Amdahl: an env that cost nothing would make DummyVecEnv's
learn at most ``1 / (1 - env share)`` faster; that bounds what any VecEnv can gain at this network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_trading.candidates import cost_model
from ppo_trading.config import BASE_HYPERPARAMETERS, NETWORK, TrainingConfig
from ppo_trading.env import GoldTradingEnv
from ppo_trading.vec_env import BatchedTradingVecEnv

__all__ = ["cpu_profile", "measure_throughput"]


def _timed(owner: Any, name: str, totals: dict[str, float], key: str) -> Callable[[], None]:
    """Wrap ``owner.name`` so its CPU time adds to ``totals[key]``; returns the undo."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.process_time() - started

    setattr(owner, name, wrapper)
    return lambda: delattr(owner, name)  # the instance attribute goes; the class method shows again


def cpu_profile(model: RecurrentPPO, steps: int) -> dict[str, Any]:
    """``model.learn(steps)`` with its CPU time split into env, rollout forward, update and the rest."""
    totals = {"env_step": 0.0, "policy_forward_rollout": 0.0, "update": 0.0}
    undo = [
        _timed(model.env, "step_wait", totals, "env_step"),
        _timed(model.env, "step_async", totals, "env_step"),
        _timed(model.policy, "forward", totals, "policy_forward_rollout"),  # train() uses evaluate_actions
        _timed(model, "train", totals, "update"),
    ]
    before = model.num_timesteps
    started = time.process_time()
    try:
        model.learn(steps, reset_num_timesteps=False)
    finally:
        total = time.process_time() - started
        for step in undo:
            step()
    shares = {key: value / total for key, value in totals.items()}
    shares["other"] = 1.0 - sum(shares.values())
    done = model.num_timesteps - before
    return {"env_steps": done, "cpu_s": total, "env_steps_per_cpu_s": done / total, "shares": shares}


def _env_rate(venv: Any, steps: int) -> float:
    """Env steps per CPU-second with a fixed action (long), the environment alone."""
    venv.seed(0)
    venv.reset()
    actions = np.full(venv.num_envs, 2)
    rounds = max(1, steps // venv.num_envs)
    started = time.process_time()
    for _ in range(rounds):
        venv.step(actions)
    return rounds * venv.num_envs / (time.process_time() - started)


def measure_throughput(
    features: np.ndarray, prices: tuple[np.ndarray, ...], window: Any, config: TrainingConfig, steps: int, device: str
) -> dict[str, Any]:
    """Both set-ups at the bench's network and rollout, with their CPU profiles and the Amdahl bound."""
    length = min(config.episode_length, window.train_end - window.train_start - 1)

    def single() -> GoldTradingEnv:
        return GoldTradingEnv(features, *prices, start=window.train_start, end=window.train_end,
                              episode_length=length, costs=cost_model(config))  # fmt: skip

    envs = {
        "dummy_vec_env": lambda: DummyVecEnv([single] * config.n_envs),
        "batched_vec_env": lambda: BatchedTradingVecEnv(config.n_envs, features, *prices, window.train_start,
                                                        window.train_end, length, cost_model(config)),
    }  # fmt: skip
    rates = {}
    for name, make in envs.items():
        model = RecurrentPPO("MlpLstmPolicy", make(), n_steps=config.n_steps, batch_size=config.batch_size,
                             policy_kwargs=NETWORK, seed=0, device=device, **BASE_HYPERPARAMETERS)  # fmt: skip
        model.learn(config.n_envs * config.n_steps)  # first update outside the measurement
        profile = cpu_profile(model, steps)
        rates[name] = {
            "learn_env_steps": profile["env_steps"],
            "learn_env_steps_per_cpu_s": profile["env_steps_per_cpu_s"],
            "cpu_shares": profile["shares"],
            "env_only_steps_per_cpu_s": _env_rate(make(), steps),
        }
    dummy, batched = rates["dummy_vec_env"], rates["batched_vec_env"]
    ratio = batched["learn_env_steps_per_cpu_s"] / dummy["learn_env_steps_per_cpu_s"]
    env_ratio = batched["env_only_steps_per_cpu_s"] / dummy["env_only_steps_per_cpu_s"]
    env_share = dummy["cpu_shares"]["env_step"]
    bound = 1.0 / (1.0 - env_share)
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in dummy["cpu_shares"].items())
    return {
        "summary": f"RecurrentPPO.learn env steps per CPU-second ({config.n_envs} envs x {config.n_steps} steps, "
        f"LSTM 64): dummy_vec_env {dummy['learn_env_steps_per_cpu_s']:.0f}, batched_vec_env "
        f"{batched['learn_env_steps_per_cpu_s']:.0f} (batched/dummy {ratio:.2f}x; the envs alone {env_ratio:.2f}x). "
        f"DummyVecEnv's learn CPU: {shares}; so even an env that cost nothing gives at most {bound:.2f}x "
        f"(Amdahl, 1 / (1 - {env_share:.3f}))"
        + (": the 2x target is out of reach at this network" if bound < 2 else ""),
        "rates": rates,
        "batched_over_dummy_learn": ratio,
        "batched_over_dummy_env_only": env_ratio,
        "dummy_env_share": env_share,
        "amdahl_bound_env_free": bound,
    }
