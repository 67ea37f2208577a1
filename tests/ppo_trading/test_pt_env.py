from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from ppo_trading.env import ENV_ID, CostModel, GoldTradingEnv
from ppo_trading.evaluation import baseline_policy, run_episode
from stable_baselines3.common.env_checker import check_env as sb3_check_env


def _toy_env(**kwargs) -> GoldTradingEnv:
    opens = np.array([100.0, 101.0, 102.0, 103.0, 104.0])
    closes = opens + 0.5
    return GoldTradingEnv(np.zeros((5, 2), np.float32), opens, closes, np.full(5, 200.0), **kwargs)


def test_passes_gymnasium_and_sb3_checkers(arrays):
    features, prices = arrays
    env = GoldTradingEnv(features, *prices, start=100, end=600, episode_length=64)
    gym_check_env(env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's checker warns about anything dubious
        sb3_check_env(GoldTradingEnv(features, *prices, start=100, end=600, episode_length=64), warn=True)


def test_registered_with_gymnasium(arrays):
    features, prices = arrays
    env = gym.make(ENV_ID, features=features, open_prices=prices[0], close_prices=prices[1],
                   spread_points=prices[2], start=0, end=300)  # fmt: skip
    obs, _ = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(3)
    assert obs.shape == (features.shape[1] + 3,)


def test_long_is_filled_at_next_open_with_half_spread_and_slippage():
    env = _toy_env(costs=CostModel(point=0.001, slippage_points=10.0))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(2)
    per_ounce = (0.5 * 200 + 10) * 0.001  # 0.11 USD/oz: 3-decimal gold, not 10x that
    units = 10_000.0 / 101.0  # filled at open[1], not close[0]
    expected = 10_000.0 - units * per_ounce + units * (101.5 - 101.0)
    assert info["equity"] == pytest.approx(expected)
    assert reward == pytest.approx(100.0 * math.log(expected / 10_000.0))
    assert info["costs_paid"] == pytest.approx(units * per_ounce)


def test_rewards_sum_to_the_scaled_net_log_return_and_position_closes_at_the_end():
    env = _toy_env()
    env.reset(seed=0)
    total, done, actions = 0.0, False, iter([2, 2, 0, 1])
    while not done:
        _, reward, terminated, truncated, info = env.step(next(actions))
        total += reward
        done = terminated or truncated
    assert truncated and info["position"] == 0
    assert total == pytest.approx(100.0 * math.log(info["equity"] / 10_000.0))
    assert env.trades == 2 and len(env.closed_trade_pnls) == 2


def test_flat_policy_makes_nothing_and_pays_nothing(arrays):
    features, prices = arrays
    env = GoldTradingEnv(features, *prices, start=100, end=900)
    record = run_episode(env, baseline_policy("flat", env))
    assert record.equity[-1] == record.equity[0] == 10_000.0
    assert record.costs_paid == 0.0 and record.trades == 0


def test_commission_is_charged_in_bps_of_notional_per_fill():
    env = _toy_env(costs=CostModel(slippage_points=0.0, commission_bps=5.0))
    env.reset(seed=0)
    env.step(2)
    units = 10_000.0 / 101.0
    assert env.costs_paid == pytest.approx(units * 0.1 + 10_000.0 * 5e-4)


def test_eurusd_costs_are_a_fraction_of_a_pip_not_a_percent():
    """The issue's EURUSD case: gold's point on a 1.1 price charged ~0.9% per fill; the FX point does not."""
    opens = np.full(5, 1.1)
    env = GoldTradingEnv(np.zeros((5, 2), np.float32), opens, opens, np.full(5, 10.0),
                         costs=CostModel(point=0.00001, slippage_points=2.0))  # fmt: skip
    env.reset(seed=0)
    _, _, _, _, info = env.step(2)
    assert 1 - info["equity"] / 10_000.0 == pytest.approx(7e-5 / 1.1)  # (5 + 2) points of 0.00001 on 1.1


def test_training_episodes_start_at_random_bars_and_stay_in_the_window(arrays):
    features, prices = arrays
    env = GoldTradingEnv(features, *prices, start=100, end=600, episode_length=50)
    starts = set()
    for seed in range(5):
        env.reset(seed=seed)
        starts.add(env.t)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
            assert info["bar"] < 600
    assert len(starts) > 1


def test_rejects_a_window_outside_the_data(arrays):
    features, prices = arrays
    with pytest.raises(ValueError):
        GoldTradingEnv(features, *prices, start=10, end=len(features) + 1)
