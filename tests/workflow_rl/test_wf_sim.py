"""The batched simulator: gymnasium conformance, CAGE-2 semantics, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from workflow_rl.sim import (
    HOST_NAMES,
    N_ACTIONS,
    OBS_DIM,
    NetDefenseEnv,
    NetDefenseSim,
    NetDefenseVectorEnv,
    decode_actions,
)

from trainkit import ConfigError

RESTORE, REMOVE = 1 + 2 * 13, 1 + 13
ENTERPRISE1 = HOST_NAMES.index("enterprise1")


def test_single_env_passes_gymnasium_check_env():
    env = NetDefenseEnv(red_agent="bline")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (OBS_DIM,) == (90,)
    assert env.action_space.n == N_ACTIONS == 53


def test_vector_env_autoresets_on_the_same_step_at_the_horizon():
    env = NetDefenseVectorEnv(4, red_agent="bline")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, OBS_DIM)
    for step in range(100):
        obs, reward, terminated, truncated, info = env.step(np.zeros(4, dtype=np.int64))
        assert reward.shape == (4,) and not terminated.any()
        assert truncated.all() == (step == 99)
    assert "final_obs" in info
    assert env.sim.t == 0  # already reset: the returned obs is the first of the next episode


def test_decode_actions_covers_sleep_and_the_four_kinds_for_each_host():
    kind, host = decode_actions(np.arange(N_ACTIONS))
    assert kind[0] == 0
    assert np.bincount(kind[1:]).tolist() == [0, 13, 13, 13, 13]
    assert sorted(host[1:14].tolist()) == list(range(13))


def test_sleeping_blue_loses_the_op_server_to_bline():
    sim = NetDefenseSim(64, "bline", seed=0)
    sim.reset()
    total = np.zeros(64)
    for _ in range(100):
        _, _, _, info = sim.step(np.zeros(64, dtype=np.int64))
        total += info["env_reward"]
    assert (sim.access[:, HOST_NAMES.index("op_server0")] == 2).all()
    assert (total < -900).all()


def test_sleep_red_agent_costs_nothing_and_restore_costs_one():
    sim = NetDefenseSim(2, "sleep", seed=0)
    sim.reset()
    _, _, _, info = sim.step(np.array([0, RESTORE + ENTERPRISE1]))
    assert info["env_reward"].tolist() == [0.0, -1.0]


def test_remove_clears_flagged_user_access_but_not_root_nor_unflagged():
    sim = NetDefenseSim(3, "sleep", seed=0)
    sim.reset()
    sim.access[:, ENTERPRISE1] = [1, 2, 1]
    sim.flagged[:, ENTERPRISE1] = [True, True, False]  # monitoring never saw the third one
    sim.step(np.full(3, REMOVE + ENTERPRISE1))
    assert sim.access[:, ENTERPRISE1].tolist() == [0, 2, 1]
    sim.step(np.full(3, RESTORE + ENTERPRISE1))
    assert sim.access[:, ENTERPRISE1].tolist() == [0, 0, 0]


def test_same_seed_same_trajectory_and_other_seed_differs():
    def run(seed):
        sim = NetDefenseSim(8, "meander", seed=seed)
        obs = [sim.reset()]
        rng = np.random.default_rng(1)
        for _ in range(30):
            obs.append(sim.step(rng.integers(0, N_ACTIONS, 8))[0])
        return np.stack(obs)

    assert np.array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        NetDefenseSim(0)
    with pytest.raises(ConfigError):
        NetDefenseSim(2, red_agent="nobody")


def test_registered_with_gymnasium_as_single_and_vector_env():
    import gymnasium as gym
    from workflow_rl import ENV_ID

    env = gym.make(ENV_ID, red_agent="meander")
    obs, _ = env.reset(seed=0)
    assert ENV_ID == "workflow_rl/NetDefense-v0" and obs.shape == (OBS_DIM,)
    vec = gym.make_vec(ENV_ID, 3, vectorization_mode="vector_entry_point", red_agent="bline")
    assert isinstance(vec, NetDefenseVectorEnv) and vec.reset(seed=0)[0].shape == (3, OBS_DIM)
