"""``GoldTradingEnv``: choose a target position on a closed bar, get filled at the next bar's open."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ppo_trading.data import POINT

__all__ = ["ENV_ID", "CostModel", "GoldTradingEnv"]

ENV_ID = "ppo_trading/GoldTrading-v0"
ACCOUNT_FEATURES = 3  # position, unrealised PnL / equity, bars in position


@dataclass(frozen=True)
class CostModel:
    """Per-fill costs: half the quoted spread and slippage (points of ``point``), commission in bps of notional."""

    point: float = POINT
    slippage_points: float = 10.0
    commission_bps: float = 0.0

    def per_unit(self, spread_points: float, price: float) -> float:
        return (0.5 * spread_points + self.slippage_points) * self.point + price * self.commission_bps * 1e-4


class GoldTradingEnv(gym.Env):
    """Discrete(3) target position (0 short, 1 flat, 2 long) over bars ``[start, end)``.

    The observation at bar t holds the standardised features of the closed bar t and the account
    state. The action is filled at ``open[t+1]``; the position is marked at ``close[t+1]``. The
    reward is ``reward_scale * log(equity[t+1] / equity[t])`` with every cost already paid, so the
    episode's rewards sum to the scaled log return. The position is closed (and its exit cost paid)
    on the episode's last step. With ``episode_length`` set, episodes start at random bars.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's convention)

    def __init__(
        self,
        features: np.ndarray,
        open_prices: np.ndarray,
        close_prices: np.ndarray,
        spread_points: np.ndarray,
        start: int = 0,
        end: int | None = None,
        episode_length: int | None = None,
        costs: CostModel | None = None,
        leverage: float = 1.0,
        initial_equity: float = 10_000.0,
        reward_scale: float = 100.0,
        max_drawdown: float = 0.5,
    ) -> None:
        super().__init__()
        n = len(open_prices)
        end = n if end is None else end
        if not (len(features) == len(close_prices) == len(spread_points) == n):
            raise ValueError("features and price arrays must have the same length")
        if not 0 <= start < end - 1 or end > n:
            raise ValueError(f"need 0 <= start < end - 1 <= {n - 1}, got start={start}, end={end}")
        if episode_length is not None and not 1 <= episode_length <= end - start - 1:
            raise ValueError(f"episode_length must be in [1, {end - start - 1}], got {episode_length}")
        self.features = np.asarray(features, dtype=np.float32)
        self.open_prices = np.asarray(open_prices, dtype=np.float64)
        self.close_prices = np.asarray(close_prices, dtype=np.float64)
        self.spread_points = np.asarray(spread_points, dtype=np.float64)
        self.start, self.end = int(start), int(end)
        self.episode_length = episode_length
        self.costs = costs or CostModel()
        self.leverage = leverage
        self.initial_equity = initial_equity
        self.reward_scale = reward_scale
        self.max_drawdown = max_drawdown
        n_obs = self.features.shape[1] + ACCOUNT_FEATURES
        self.observation_space = spaces.Box(-10.0, 10.0, shape=(n_obs,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self._obs = np.zeros(n_obs, dtype=np.float32)

    # -- account ---------------------------------------------------------------------------------
    def _fill(self, target: int, price: float, spread_points: float) -> None:
        """Move from the current position to ``target`` at ``price``, paying costs per leg."""
        per_unit = self.costs.per_unit(spread_points, price)
        if self.units != 0.0:
            cost = abs(self.units) * per_unit
            self.cash += self.units * price - cost
            self.costs_paid += cost
            self.closed_trade_pnls.append(self.cash - self.entry_equity)
            self.units = 0.0
        if target != 0:
            self.entry_equity = self.cash
            self.units = target * self.leverage * self.cash / price
            cost = abs(self.units) * per_unit
            self.cash -= self.units * price + cost
            self.costs_paid += cost
            self.trades += 1
        self.position = target
        self.bars_in_position = 0

    def _equity(self, price: float) -> float:
        return self.cash + self.units * price

    def _observation(self) -> np.ndarray:
        obs = self._obs
        n_features = self.features.shape[1]
        obs[:n_features] = self.features[self.t]
        equity = self._equity(self.close_prices[self.t])
        unrealised = (equity - self.entry_equity) / equity if self.position != 0 else 0.0
        obs[n_features] = self.position
        obs[n_features + 1] = min(max(unrealised * 100.0, -10.0), 10.0)
        obs[n_features + 2] = min(self.bars_in_position / 100.0, 10.0)
        return obs.copy()

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.episode_length is None:
            self.t = self.start
            self.last_bar = self.end - 1
        else:
            self.t = int(self.np_random.integers(self.start, self.end - self.episode_length))
            self.last_bar = self.t + self.episode_length
        self.cash = self.initial_equity
        self.units = 0.0
        self.position = 0
        self.entry_equity = self.initial_equity
        self.bars_in_position = 0
        self.trades = 0
        self.costs_paid = 0.0
        self.closed_trade_pnls: list[float] = []
        self.equity = self.initial_equity
        self.peak = self.initial_equity
        return self._observation(), {"equity": self.equity, "bar": self.t}

    def step(self, action):
        target = int(action) - 1
        if target not in (-1, 0, 1):
            raise ValueError(f"action must be 0, 1 or 2, got {action!r}")
        fill_bar = self.t + 1
        if target != self.position:
            self._fill(target, self.open_prices[fill_bar], self.spread_points[fill_bar])
        self.t = fill_bar
        self.bars_in_position += 1 if self.position != 0 else 0
        equity = self._equity(self.close_prices[self.t])
        terminated = equity <= (1.0 - self.max_drawdown) * self.peak
        truncated = self.t >= self.last_bar and not terminated
        if (terminated or truncated) and self.position != 0:
            self._fill(0, self.close_prices[self.t], self.spread_points[self.t])
            equity = self._equity(self.close_prices[self.t])
        reward = self.reward_scale * math.log(max(equity, 1e-12) / self.equity)
        self.equity = equity
        self.peak = max(self.peak, equity)
        info = {"equity": equity, "position": self.position, "bar": self.t, "costs_paid": self.costs_paid}
        return self._observation(), float(reward), bool(terminated), bool(truncated), info


gym.register(id=ENV_ID, entry_point="ppo_trading.env:GoldTradingEnv", disable_env_checker=True)
