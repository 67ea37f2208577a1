from __future__ import annotations

import numpy as np
import pytest
import torch
from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import (
    BASELINES,
    EpisodeRecord,
    baseline_policy,
    evaluate_model,
    fast_policy,
    run_episode,
    sequential_policy,
    trading_metrics,
)
from ppo_trading.utils.training_utils_optimized import NETWORK
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv


@pytest.fixture(scope="module")
def trained_model(arrays):
    torch.set_num_threads(1)
    features, prices = arrays
    env = DummyVecEnv([lambda: GoldTradingEnv(features, *prices, start=100, end=2100, episode_length=64)] * 4)
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=64, n_epochs=2, policy_kwargs=NETWORK,
                         learning_rate=3e-3, ent_coef=0.0, seed=1)  # fmt: skip
    model.learn(512)
    return model


def test_fast_evaluation_chooses_the_same_actions_as_sequential_predict(trained_model, arrays):
    features, prices = arrays
    records = {}
    for name in ("sequential", "fast"):
        records[name] = evaluate_model(trained_model, GoldTradingEnv(features, *prices, start=2101, end=2401), name)
    assert len(records["fast"].actions) == 299
    assert len(set(records["fast"].actions)) > 1  # a policy that acts, so equality means something
    assert records["fast"].actions == records["sequential"].actions
    assert records["fast"].equity == records["sequential"].equity


def test_fast_evaluation_resets_state_at_episode_start(trained_model, arrays):
    features, prices = arrays
    env = GoldTradingEnv(features, *prices, start=2101, end=2401)
    policy = fast_policy(trained_model)
    first = run_episode(env, policy).actions
    second = run_episode(env, policy).actions  # same closure, second episode: state must be zeroed
    assert first == second == run_episode(env, sequential_policy(trained_model)).actions


def test_the_lstm_state_matters_so_dropping_it_would_be_caught(trained_model, arrays):
    """Feeding bars without carrying the state (the original 'fast evaluation') picks other actions."""
    features, prices = arrays
    env = GoldTradingEnv(features, *prices, start=2101, end=2401)
    stateless = run_episode(
        env,
        lambda obs, start: int(
            trained_model.predict(obs[None], episode_start=np.array([True]), deterministic=True)[0][0]
        ),
    )
    assert stateless.actions != run_episode(env, sequential_policy(trained_model)).actions


def test_metrics_from_a_known_equity_curve():
    record = EpisodeRecord(
        actions=[2, 2, 1, 0],
        equity=[100.0, 110.0, 99.0, 99.0, 108.9],
        positions=[1, 1, 0, -1],
        trades=2,
        costs_paid=1.5,
        closed_trade_pnls=[-1.0, 9.9],
    )
    metrics = trading_metrics(record, bars_per_year=4)
    assert metrics["total_return"] == pytest.approx(0.089)
    assert metrics["max_drawdown"] == pytest.approx(0.1)
    assert metrics["win_rate"] == 0.5 and metrics["profit_factor"] == pytest.approx(9.9)
    assert metrics["trades"] == 2 and metrics["costs_paid"] == 1.5 and metrics["exposure"] == 0.75
    log_returns = np.diff(np.log(record.equity))
    assert metrics["sharpe"] == pytest.approx(log_returns.mean() / log_returns.std() * 2)


def test_baselines_share_the_accounting(arrays):
    features, prices = arrays
    results = {}
    for name in BASELINES:
        env = GoldTradingEnv(features, *prices, start=2101, end=2401)
        results[name] = trading_metrics(run_episode(env, baseline_policy(name, env, seed=0)))
    opens, closes = prices[0], prices[1]
    price_return = closes[2400] / opens[2102] - 1
    assert results["buy_and_hold"]["trades"] == 1
    assert results["buy_and_hold"]["total_return"] < price_return  # costs were paid
    assert results["buy_and_hold"]["total_return"] == pytest.approx(price_return, abs=5e-4)
    assert results["flat"]["total_return"] == 0.0
    assert results["random"]["trades"] > 50 and results["random"]["costs_paid"] > 0
    assert results["sma_crossover"]["trades"] >= 1
    with pytest.raises(ValueError):
        baseline_policy("martingale", GoldTradingEnv(features, *prices, start=2101, end=2401))


def test_a_stopped_out_account_sits_in_cash_to_the_window_end_so_it_compares_with_buy_and_hold():
    """GOOGL daily, seed 3: a short agent hit the 50% stop 34 bars early and the comparison crashed."""
    from ppo_trading.reporting import compare_to_buy_and_hold

    close = np.linspace(100.0, 400.0, 60)  # a price that quadruples: a short loses half well before the end
    env_args = (np.zeros((60, 4), np.float32), close, close, np.zeros(60))
    short = run_episode(GoldTradingEnv(*env_args), lambda obs, start: 0)
    hold = run_episode(GoldTradingEnv(*env_args), lambda obs, start: 2)
    assert len(short.equity) == len(hold.equity) == 60 and len(short.positions) == len(short.actions) == 59
    stop = short.positions.index(0) + 1  # equity[k] follows positions[k - 1]: the bar the stop closed the position
    assert 1 < stop < 30 and short.equity[stop] <= 0.5 * short.equity[0]
    assert set(short.positions[stop - 1 :]) == {0} and set(short.equity[stop:]) == {short.equity[stop]}
    report = compare_to_buy_and_hold(np.diff(np.log(short.equity)), np.diff(np.log(hold.equity)))
    assert report["bars"] == 59 and report["excess_log_return_pct"] < -100
