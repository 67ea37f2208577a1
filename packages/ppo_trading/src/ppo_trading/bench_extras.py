"""The bench's extra comparisons: degenerate opponents on the same bars, throughput and the evaluators."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import BASELINES, baseline_policy, evaluate_model, run_episode
from ppo_trading.features import FeatureConfig, compute_features, standardize
from ppo_trading.reporting import compare_to_buy_and_hold
from ppo_trading.utils.training_utils_optimized import BASE_HYPERPARAMETERS, NETWORK, TrainingConfig, cost_model
from ppo_trading.vec_env import BatchedTradingVecEnv
from ppo_trading.walk_forward import Split, make_split

__all__ = ["compare_evaluators", "degenerate_opponents", "measure_throughput"]


def _split(df: pd.DataFrame, config: TrainingConfig) -> Split:
    return make_split(len(df), FeatureConfig().warmup, config.iterations, config.train_bars, config.val_bars,
                      test_fraction=config.test_fraction)  # fmt: skip


def _arrays(df: pd.DataFrame, split: Split) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    last = split.windows[-1]
    features, _, _ = standardize(compute_features(df), slice(last.train_start, last.train_end))
    return features, (df["open"].to_numpy(float), df["close"].to_numpy(float), df["spread"].to_numpy(float))


def degenerate_opponents(df: pd.DataFrame, config: TrainingConfig, agents: dict[str, float]) -> dict[str, Any]:
    """Buy-and-hold, SMA crossover, flat and random over the agents' out-of-sample bars, same accounting.

    ``agents`` maps arm name to its median out-of-sample excess log return; the summary says plainly
    whether an opponent beats the optimized agent.
    """
    split = _split(df, config)
    features, prices = _arrays(df, split)
    segments = [(w.val_start, w.val_end) for w in split.windows] + [(split.test_start, split.test_end)]
    returns: dict[str, list[np.ndarray]] = {name: [] for name in BASELINES}
    for start, end in segments:
        for name in BASELINES:
            env = GoldTradingEnv(features, *prices, start=start, end=end, costs=cost_model(config))
            returns[name].append(np.diff(np.log(run_episode(env, baseline_policy(name, env, seed=0)).equity)))
    hold = np.concatenate(returns["buy_and_hold"])
    rows = {name: compare_to_buy_and_hold(np.concatenate(r), hold) for name, r in returns.items()}
    optimized = agents.get("optimized", float("nan"))
    beaten_by = [name for name, row in rows.items() if row["excess_log_return_pct"] > optimized]
    summary = (
        f"over {len(hold)} out-of-sample bars buy-and-hold made {rows['buy_and_hold']['agent_log_return_pct']:+.2f}% "
        f"(log); SMA crossover excess {rows['sma_crossover']['excess_log_return_pct']:+.2f} points; optimized agent "
        f"median excess {optimized:+.2f} points; "
        + (f"beaten by: {', '.join(beaten_by)}" if beaten_by else "no degenerate opponent beats the optimized agent")
    )
    return {"summary": summary, "opponents": rows, "agents_median_excess_pct": agents, "beaten_by": beaten_by}


def _cpu_rate(model: RecurrentPPO, steps: int) -> tuple[float, int]:
    started = time.process_time()
    model.learn(steps)
    return model.num_timesteps / (time.process_time() - started), int(model.num_timesteps)


def measure_throughput(df: pd.DataFrame, config: TrainingConfig, steps: int, device: str) -> dict[str, Any]:
    """RecurrentPPO env steps per CPU-second at the bench's network on DummyVecEnv (more set-ups in step 4)."""
    split = _split(df, config)
    features, prices = _arrays(df, split)
    window = split.windows[0]

    def single() -> GoldTradingEnv:
        return GoldTradingEnv(features, *prices, start=window.train_start, end=window.train_end,
                              episode_length=min(config.episode_length, window.train_end - window.train_start - 1),
                              costs=cost_model(config))  # fmt: skip

    length = min(config.episode_length, window.train_end - window.train_start - 1)
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
        rate, done = _cpu_rate(model, steps)
        rates[name] = {"learn_env_steps": done, "learn_env_steps_per_cpu_s": rate,
                       "env_only_steps_per_cpu_s": _env_rate(make(), steps)}  # fmt: skip
    ratio = rates["batched_vec_env"]["learn_env_steps_per_cpu_s"] / rates["dummy_vec_env"]["learn_env_steps_per_cpu_s"]
    env_ratio = (
        rates["batched_vec_env"]["env_only_steps_per_cpu_s"] / rates["dummy_vec_env"]["env_only_steps_per_cpu_s"]
    )
    parts = ", ".join(f"{k} {v['learn_env_steps_per_cpu_s']:.0f}" for k, v in rates.items())
    return {
        "summary": f"RecurrentPPO.learn env steps per CPU-second ({config.n_envs} envs x {config.n_steps} steps, "
        f"LSTM 64): {parts} (batched/dummy {ratio:.2f}x; the envs alone {env_ratio:.2f}x); the rest is the "
        "policy's LSTM forward in the rollout and its backward in the update",
        "rates": rates,
        "batched_over_dummy_learn": ratio,
        "batched_over_dummy_env_only": env_ratio,
    }


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


def compare_evaluators(df: pd.DataFrame, config: TrainingConfig) -> dict[str, Any]:
    """Sequential ``predict`` vs the fast evaluator on the test block: CPU time and identical actions."""
    split = _split(df, config)
    features, prices = _arrays(df, split)

    def env() -> GoldTradingEnv:
        return GoldTradingEnv(features, *prices, start=split.test_start, end=split.test_end, costs=cost_model(config))

    model = RecurrentPPO("MlpLstmPolicy", DummyVecEnv([env]), n_steps=16, policy_kwargs=NETWORK, seed=0)
    cpu, actions = {}, {}
    for name in ("sequential", "fast"):
        started = time.process_time()
        actions[name] = evaluate_model(model, env(), name).actions
        cpu[name] = time.process_time() - started
    same = actions["sequential"] == actions["fast"]
    return {
        "summary": f"over {len(actions['fast'])} test bars the fast evaluator used {cpu['fast']:.3f} CPU-s, "
        f"predict {cpu['sequential']:.3f} CPU-s; identical actions: {same}",
        "cpu_s": cpu,
        "bars": len(actions["fast"]),
        "identical_actions": same,
    }
