"""Deterministic evaluation of a recurrent policy, trading metrics and baselines, one accounting engine.

Two evaluators step the same environment bar by bar and carry the LSTM state and ``episode_start``:
``sequential`` calls ``model.predict`` as SB3 documents; ``fast`` runs the same torch modules
directly (no numpy round trips, no VecEnv), and a test proves both choose the same actions.
Batching bars through the LSTM as if they were parallel environments (the original "fast
evaluation") breaks the state and is not offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ppo_trading.data import BARS_PER_YEAR
from ppo_trading.env import GoldTradingEnv

__all__ = [
    "BASELINES",
    "EVALUATORS",
    "EpisodeRecord",
    "baseline_policy",
    "evaluate_model",
    "fast_policy",
    "run_episode",
    "sequential_policy",
    "trading_metrics",
]

# chooses an action from (observation, episode_start)
Policy = Callable[[np.ndarray, bool], int]


@dataclass
class EpisodeRecord:
    """One deterministic pass over a window: the actions and the equity after every bar."""

    actions: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    trades: int = 0
    costs_paid: float = 0.0
    closed_trade_pnls: list[float] = field(default_factory=list)

    @property
    def log_return(self) -> float:
        return float(np.log(self.equity[-1] / self.equity[0]))


def run_episode(env: GoldTradingEnv, policy: Policy) -> EpisodeRecord:
    """Play ``policy`` over the env's whole window from its first bar (flat after a stop-out)."""
    obs, info = env.reset(seed=0)
    record = EpisodeRecord(equity=[info["equity"]])
    episode_start, done = True, False
    while not done:
        action = policy(obs, episode_start)
        obs, _, terminated, truncated, info = env.step(action)
        record.actions.append(int(action))
        record.equity.append(info["equity"])
        record.positions.append(info["position"])
        episode_start, done = False, terminated or truncated
    # A stop-out (drawdown past env.max_drawdown) closes the position and ends the episode early; the
    # account then sits in cash to the window's end, so every record covers the same bars and the agent's
    # curve can be compared bar by bar with buy-and-hold's (a shorter curve used to crash the comparison).
    flat_bars = env.last_bar - env.t
    record.equity += [record.equity[-1]] * flat_bars
    record.positions += [0] * flat_bars
    record.actions += [1] * flat_bars
    record.trades = env.trades
    record.costs_paid = env.costs_paid
    record.closed_trade_pnls = list(env.closed_trade_pnls)
    return record


def sequential_policy(model: Any) -> Policy:
    """``model.predict`` (a RecurrentPPO's or its policy's) one bar at a time.

    The LSTM state and ``episode_start`` are passed back in, as SB3 documents.
    """
    state: tuple[np.ndarray, ...] | None = None

    def choose(obs: np.ndarray, episode_start: bool) -> int:
        nonlocal state
        action, state = model.predict(
            obs[None, :], state=state, episode_start=np.array([episode_start]), deterministic=True
        )
        return int(action[0])

    return choose


def fast_policy(model: Any) -> Policy:
    """The actor path of ``MlpLstmPolicy`` (features -> LSTM -> MLP -> argmax) in plain torch.

    The same kernels as ``predict(deterministic=True)``, minus its per-call overhead: the LSTM runs
    through ``torch.lstm`` with the module's own weights (what ``nn.LSTM.forward`` calls after its
    argument checks), and the state is zeroed at episode start as ``episode_start`` does.
    """
    policy = getattr(model, "policy", model)  # a RecurrentPPO or its bare policy
    policy.set_training_mode(False)
    lstm = policy.lstm_actor
    if lstm.batch_first or lstm.bidirectional or getattr(lstm, "proj_size", 0):
        raise ValueError("fast evaluation supports SB3's LSTM layout only (not batch_first/bidirectional/proj)")
    weights = lstm._flat_weights
    shape = (lstm.num_layers, 1, lstm.hidden_size)
    device = policy.device
    state = (torch.zeros(shape, device=device), torch.zeros(shape, device=device))
    extractor, actor_mlp, action_net = policy.pi_features_extractor, policy.mlp_extractor.policy_net, policy.action_net

    def choose(obs: np.ndarray, episode_start: bool) -> int:
        nonlocal state
        with torch.inference_mode():
            if episode_start:
                state = (torch.zeros(shape, device=device), torch.zeros(shape, device=device))
            features = extractor(torch.from_numpy(obs).to(device).reshape(1, -1))
            hidden, h, c = torch.lstm(
                features.reshape(1, 1, -1), state, weights, lstm.bias, lstm.num_layers, 0.0, False, False, False
            )
            state = (h, c)
            return int(torch.argmax(action_net(actor_mlp(hidden.reshape(1, -1))), dim=1)[0])

    return choose


EVALUATORS: dict[str, Callable[[Any], Policy]] = {"sequential": sequential_policy, "fast": fast_policy}


def evaluate_model(model: Any, env: GoldTradingEnv, evaluator: str = "sequential") -> EpisodeRecord:
    """A deterministic pass of ``model`` over ``env``'s window with the named evaluator."""
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {sorted(EVALUATORS)}, got {evaluator!r}")
    return run_episode(env, EVALUATORS[evaluator](model))


def baseline_policy(name: str, env: GoldTradingEnv, seed: int = 0) -> Policy:
    """A fixed policy indexed by the env's current bar: buy_and_hold, flat, random or sma_crossover."""
    if name == "buy_and_hold":
        return lambda obs, start: 2
    if name == "flat":
        return lambda obs, start: 1
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs, start: int(rng.integers(3))
    if name == "sma_crossover":
        close = pd.Series(env.close_prices)
        # Causal: the SMAs at bar t use closes up to t.
        fast_above = (close.rolling(20).mean() > close.rolling(96).mean()).to_numpy()
        return lambda obs, start: 2 if fast_above[env.t] else 0
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")


BASELINES = ("buy_and_hold", "flat", "random", "sma_crossover")


def trading_metrics(record: EpisodeRecord, bars_per_year: float = BARS_PER_YEAR) -> dict[str, float | int | None]:
    """Total return, annualised Sharpe, max drawdown, trades, win rate, profit factor, costs paid."""
    equity = np.asarray(record.equity, dtype=float)
    log_returns = np.diff(np.log(equity))
    spread = log_returns.std()
    sharpe = float(log_returns.mean() / spread * np.sqrt(bars_per_year)) if spread > 0 else 0.0
    drawdown = 1.0 - equity / np.maximum.accumulate(equity)
    pnls = np.asarray(record.closed_trade_pnls, dtype=float)
    wins, losses = pnls[pnls > 0].sum(), -pnls[pnls < 0].sum()
    return {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "log_return": float(np.log(equity[-1] / equity[0])),
        "sharpe": sharpe,
        "max_drawdown": float(drawdown.max()),
        "trades": int(record.trades),
        "win_rate": float((pnls > 0).mean()) if pnls.size else None,
        "profit_factor": float(wins / losses) if losses > 0 else None,
        "costs_paid": float(record.costs_paid),
        "exposure": float(np.mean(np.asarray(record.positions) != 0)) if record.positions else 0.0,
        "bars": len(log_returns),
    }
