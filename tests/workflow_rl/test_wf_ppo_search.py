"""PPO pieces (GAE bootstrap, the update) and the GP-UCB search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from workflow_rl.agents import ActorCritic
from workflow_rl.ppo import PPOConfig, compute_gae, ppo_update
from workflow_rl.search import GPUCBSearch, KendallKernel, WorkflowResult
from workflow_rl.workflows import ALL_WORKFLOWS, rank_of_type


def test_gae_bootstraps_at_the_cut_and_not_after_a_done():
    rewards = np.ones((2, 2), dtype=np.float32)
    values = np.zeros((2, 2), dtype=np.float32)
    dones = np.array([[0, 0], [0, 1]], dtype=np.float32)
    last_value = np.array([10.0, 10.0], dtype=np.float32)
    adv, ret = compute_gae(rewards, values, dones, last_value, gamma=0.5, lam=1.0)
    # env 0 is cut mid-episode: 1 + 0.5 * (1 + 0.5 * 10); env 1 ended: 1 + 0.5 * 1
    assert ret[0].tolist() == pytest.approx([4.0, 1.5])
    assert np.allclose(adv, ret - values)


def test_ppo_update_moves_probability_towards_the_rewarded_action():
    torch.manual_seed(0)
    agent = ActorCritic(4, 3)
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.01)
    obs = torch.zeros(256, 4)
    actions = torch.randint(0, 3, (256,))
    with torch.no_grad():
        logprobs, _, _ = agent.evaluate(obs, actions)
    rewards = (actions == 2).float()
    before = torch.softmax(agent.actor(obs[:1]), -1)[0, 2].item()
    ppo_update(agent, optimizer, obs, actions, logprobs, rewards, rewards, PPOConfig(), torch.Generator())
    after = torch.softmax(agent.actor(obs[:1]), -1)[0, 2].item()
    assert after > before + 0.05


def test_kendall_kernel_is_positive_definite_on_all_orders():
    X = np.array([rank_of_type(w) for w in ALL_WORKFLOWS])
    K = KendallKernel()(X)
    assert np.allclose(K, K.T) and np.allclose(np.diag(K), 1.0)
    assert np.linalg.eigvalsh(K).min() > 0


def test_gp_ucb_proposes_untried_orders_and_inherits_from_the_nearest():
    search = GPUCBSearch(seed=0)
    seen = set()
    for i in range(5):
        workflow = search.propose()
        assert workflow not in seen
        seen.add(workflow)
        search.observe(WorkflowResult(workflow, -100.0 - i, 0.97, 64, True))
    probe = next(iter(seen))
    assert search.nearest_trained(probe) == probe
    restored = GPUCBSearch(seed=0)
    restored.load_state_dict(search.state_dict())
    assert restored.propose() == search.propose()
