"""The batched VecEnv gives DummyVecEnv's trajectories, passes SB3's VecEnv wrappers and trains the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ppo_trading.env import CostModel, GoldTradingEnv
from ppo_trading.utils.training_utils_optimized import NETWORK
from ppo_trading.vec_env import BatchedTradingVecEnv
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecMonitor

N_ENVS, LENGTH = 6, 40
COSTS = CostModel(point=0.001, slippage_points=10.0, commission_bps=1.5)


def _pair(arrays):
    features, prices = arrays
    window = {"start": 100, "end": 2100, "episode_length": LENGTH, "costs": COSTS}
    single = DummyVecEnv([lambda: GoldTradingEnv(features, *prices, **window)] * N_ENVS)
    batched = BatchedTradingVecEnv(N_ENVS, features, *prices, **window)
    return single, batched


def test_same_trajectories_as_the_single_env_through_resets(arrays):
    single, batched = _pair(arrays)
    for venv in (single, batched):
        venv.seed(123)
    obs_a, obs_b = single.reset(), batched.reset()
    np.testing.assert_array_equal(obs_a, obs_b)
    rng = np.random.default_rng(0)
    done_count = 0
    for _ in range(3 * LENGTH + 7):  # every env finishes at least twice; random actions flip positions often
        actions = rng.integers(0, 3, N_ENVS)
        obs_a, rew_a, done_a, info_a = single.step(actions)
        obs_b, rew_b, done_b, info_b = batched.step(actions)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_allclose(rew_a, rew_b, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(done_a, done_b)
        for a, b in zip(info_a, info_b):
            assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
            if "terminal_observation" in a:
                np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])
        done_count += int(done_a.sum())
    assert done_count >= 2 * N_ENVS


def test_passes_sb3_vec_env_wrappers_and_rejects_bad_actions(arrays):
    _, batched = _pair(arrays)
    venv = VecMonitor(VecCheckNan(batched, raise_exception=True))
    venv.seed(1)
    obs = venv.reset()
    assert obs.shape == (N_ENVS, *batched.observation_space.shape) and obs.dtype == np.float32
    episodes = 0
    for _ in range(LENGTH + 1):
        obs, rewards, dones, infos = venv.step(np.full(N_ENVS, 2))
        assert rewards.dtype == np.float32 and dones.dtype == bool and len(infos) == N_ENVS
        assert all(batched.observation_space.contains(o) for o in obs)
        episodes += sum("episode" in info for info in infos)
    assert episodes == N_ENVS  # VecMonitor saw every episode end
    assert batched.get_attr("episode_length") == [LENGTH] * N_ENVS
    with pytest.raises(ValueError, match="actions"):
        batched.step(np.full(N_ENVS, 3))


def test_recurrent_ppo_learns_the_same_weights_on_both(arrays):
    weights = []
    for venv in _pair(arrays):
        model = RecurrentPPO("MlpLstmPolicy", venv, n_steps=16, batch_size=48, n_epochs=1, policy_kwargs=NETWORK,
                             seed=5)  # fmt: skip
        model.learn(2 * N_ENVS * 16)
        weights.append(model.policy.state_dict())
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_process_workers_stay_alive_across_iterations_and_match_serial(bars, tiny_config_kwargs, tmp_path):
    from ppo_trading import candidates
    from ppo_trading.utils import training_utils_optimized as tuo

    from trainkit import load_checkpoint

    def run(backend: str, folder: str) -> list[float]:
        config = tuo.TrainingConfig.optimized(**tiny_config_kwargs, parallel_candidates=2, backend=backend)
        tuo.train_walk_forward_optimized(bars, config, tmp_path / folder)
        progress = load_checkpoint(tmp_path / folder / "progress.pt", package="ppo_trading")
        return [it["val_score"] for it in progress["iterations"]]

    assert run("process", "a") == run("serial", "b")
    pids = set(candidates._POOLS[2]._processes)
    run("process", "c")  # a second run reuses the same two workers: no re-spawn
    assert set(candidates._POOLS[2]._processes) == pids and len(pids) == 2
