"""Did the agent beat buy-and-hold net of costs? Excess log return with a block-bootstrap CI and a plain verdict.

Bar returns of a trading strategy are autocorrelated (positions persist, volatility clusters), so the
CI resamples contiguous blocks (circular block bootstrap, block length about sqrt(bars)), not single bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["block_bootstrap_ci", "compare_to_buy_and_hold", "equity_stats", "verdict"]

BOOTSTRAP_SAMPLES = 2_000
LEVEL = 0.95


def block_bootstrap_ci(
    values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES, block: int | None = None
) -> tuple[float, float, int]:
    """A 95% CI of ``values.sum()`` by the circular block bootstrap; returns (low, high, block length)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float(values.sum()), float(values.sum()), 1
    block = block or max(1, round(float(np.sqrt(n))))
    rng = np.random.default_rng(seed)
    blocks = -(-n // block)
    starts = rng.integers(0, n, size=(samples, blocks))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(samples, -1)[:, :n] % n
    sums = values[index].sum(axis=1)
    tail = (1 - LEVEL) / 2
    return float(np.quantile(sums, tail)), float(np.quantile(sums, 1 - tail)), block


def equity_stats(equity: Sequence[float], positions: Sequence[int]) -> dict[str, float]:
    """Log return (%), max drawdown (fraction) and turnover (mean |position change| per bar; 2 = a flip)."""
    curve = np.asarray(equity, dtype=float)
    moves = np.abs(np.diff(np.concatenate([[0], np.asarray(positions, dtype=float)])))
    return {
        "log_return_pct": float(100 * np.log(curve[-1] / curve[0])),
        "max_drawdown": float((1 - curve / np.maximum.accumulate(curve)).max()),
        "turnover_per_bar": float(moves.mean()) if moves.size else 0.0,
    }


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "beats buy-and-hold net of costs"
    if high < 0:
        return "does not beat buy-and-hold net of costs (worse, CI below 0)"
    return "does not beat buy-and-hold net of costs (CI includes 0)"


def compare_to_buy_and_hold(
    agent_log_returns: np.ndarray, buy_and_hold_log_returns: np.ndarray, seed: int = 0
) -> dict[str, object]:
    """Excess log return (percentage points) of agent over buy-and-hold on the same bars, CI and verdict."""
    agent, hold = np.asarray(agent_log_returns, float), np.asarray(buy_and_hold_log_returns, float)
    if agent.shape != hold.shape:
        raise ValueError(f"agent and buy-and-hold cover different bars ({agent.shape} vs {hold.shape})")
    difference = 100 * (agent - hold)
    low, high, block = block_bootstrap_ci(difference, seed=seed)
    return {
        "bars": len(agent),
        "agent_log_return_pct": float(100 * agent.sum()),
        "buy_and_hold_log_return_pct": float(100 * hold.sum()),
        "excess_log_return_pct": float(difference.sum()),
        "ci95": [low, high],
        "ci_method": f"circular block bootstrap of per-bar differences, block {block}, {BOOTSTRAP_SAMPLES} samples",
        "verdict": verdict(low, high),
    }
