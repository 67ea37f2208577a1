"""``BatchedTradingVecEnv``: every training episode of :class:`GoldTradingEnv` stepped at once in numpy.

``DummyVecEnv`` calls ``GoldTradingEnv.step`` once per environment in Python and deep-copies every info
dict each step. This VecEnv keeps the account of all ``num_envs`` episodes in arrays and steps them with
one set of numpy operations. It makes the same decisions in the same order as ``GoldTradingEnv`` (and
draws episode starts from the same per-environment generators), so a seeded run gives the same
trajectories as ``DummyVecEnv`` over ``GoldTradingEnv`` (tested). Training only: it keeps no trade log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from ppo_trading.env import CostModel, GoldTradingEnv

__all__ = ["BatchedTradingVecEnv"]


class BatchedTradingVecEnv(VecEnv):
    """``num_envs`` random-start episodes of ``episode_length`` bars over ``[start, end)``, batched."""

    def __init__(
        self,
        num_envs: int,
        features: np.ndarray,
        open_prices: np.ndarray,
        close_prices: np.ndarray,
        spread_points: np.ndarray,
        start: int,
        end: int,
        episode_length: int,
        costs: CostModel | None = None,
    ) -> None:
        # One GoldTradingEnv validates the arguments and defines the spaces and constants.
        self.template = GoldTradingEnv(features, open_prices, close_prices, spread_points, start, end,
                                       episode_length, costs)  # fmt: skip
        super().__init__(num_envs, self.template.observation_space, self.template.action_space)
        t = self.template
        self.features, self.open, self.close, self.spread = t.features, t.open_prices, t.close_prices, t.spread_points
        self.rngs: list[np.random.Generator | None] = [None] * num_envs
        zeros = np.zeros(num_envs)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.last_bar = np.zeros(num_envs, dtype=np.int64)
        self.position = np.zeros(num_envs, dtype=np.int64)
        self.bars_in_position = np.zeros(num_envs, dtype=np.int64)
        self.cash, self.units, self.entry_equity = zeros.copy(), zeros.copy(), zeros.copy()
        self.equity, self.peak, self.costs_paid = zeros.copy(), zeros.copy(), zeros.copy()
        self.actions = np.ones(num_envs, dtype=np.int64)

    # -- account (the same arithmetic, in the same order, as GoldTradingEnv._fill) --------------------
    def _reset_envs(self, index: np.ndarray) -> None:
        t = self.template
        for i in index:
            if self.rngs[i] is None or self._seeds[i] is not None:
                self.rngs[i], _ = seeding.np_random(self._seeds[i])
            self.t[i] = int(self.rngs[i].integers(t.start, t.end - t.episode_length))
        self.last_bar[index] = self.t[index] + t.episode_length
        self.cash[index] = t.initial_equity
        self.units[index] = 0.0
        self.position[index] = 0
        self.entry_equity[index] = t.initial_equity
        self.bars_in_position[index] = 0
        self.costs_paid[index] = 0.0
        self.equity[index] = t.initial_equity
        self.peak[index] = t.initial_equity

    def _fill(self, index: np.ndarray, target: np.ndarray, price: np.ndarray, spread: np.ndarray) -> None:
        costs = self.template.costs
        per_unit = (0.5 * spread + costs.slippage_points) * costs.point + price * costs.commission_bps * 1e-4
        holding = self.units[index] != 0.0
        close = index[holding]
        cost = np.abs(self.units[close]) * per_unit[holding]
        self.cash[close] += self.units[close] * price[holding] - cost
        self.costs_paid[close] += cost
        self.units[close] = 0.0
        opening = target != 0
        open_ = index[opening]
        self.entry_equity[open_] = self.cash[open_]
        self.units[open_] = target[opening] * self.template.leverage * self.cash[open_] / price[opening]
        cost = np.abs(self.units[open_]) * per_unit[opening]
        self.cash[open_] -= self.units[open_] * price[opening] + cost
        self.costs_paid[open_] += cost
        self.position[index] = target
        self.bars_in_position[index] = 0

    def _observations(self) -> np.ndarray:
        n_features = self.features.shape[1]
        obs = np.empty((self.num_envs, n_features + 3), dtype=np.float32)
        obs[:, :n_features] = self.features[self.t]
        equity = self.cash + self.units * self.close[self.t]
        unrealised = np.where(self.position != 0, (equity - self.entry_equity) / equity, 0.0)
        obs[:, n_features] = self.position
        obs[:, n_features + 1] = np.minimum(np.maximum(unrealised * 100.0, -10.0), 10.0)
        obs[:, n_features + 2] = np.minimum(self.bars_in_position / 100.0, 10.0)
        return obs

    # -- VecEnv API ------------------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        self._reset_envs(np.arange(self.num_envs))
        self._reset_seeds()
        self._reset_options()
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        t = self.template
        target = self.actions - 1
        if np.any((target < -1) | (target > 1)):
            raise ValueError(f"actions must be 0, 1 or 2, got {self.actions!r}")
        fill_bar = self.t + 1
        moving = np.flatnonzero(target != self.position)
        self._fill(moving, target[moving], self.open[fill_bar[moving]], self.spread[fill_bar[moving]])
        self.t = fill_bar
        self.bars_in_position += self.position != 0
        equity = self.cash + self.units * self.close[self.t]
        terminated = equity <= (1.0 - t.max_drawdown) * self.peak
        truncated = (self.t >= self.last_bar) & ~terminated
        closing = np.flatnonzero((terminated | truncated) & (self.position != 0))
        self._fill(closing, np.zeros(len(closing), np.int64), self.close[self.t[closing]], self.spread[self.t[closing]])
        equity[closing] = self.cash[closing] + self.units[closing] * self.close[self.t[closing]]
        rewards = (t.reward_scale * np.log(np.maximum(equity, 1e-12) / self.equity)).astype(np.float32)
        self.equity = equity
        self.peak = np.maximum(self.peak, equity)
        obs = self._observations()
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(x)} for x in truncated]
        finished = np.flatnonzero(dones)
        if finished.size:
            for i in finished:
                infos[i]["terminal_observation"] = obs[i].copy()
            self._reset_envs(finished)
            obs[finished] = self._observations()[finished]
        return obs, rewards, dones, infos

    def close(self) -> None:
        return None

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.template, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError("BatchedTradingVecEnv's environments share one configuration; build a new one")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        raise AttributeError(f"BatchedTradingVecEnv has no per-environment method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> Sequence[bool]:
        return [False for _ in self._get_indices(indices)]
