"""The fast update keeps the maths: fused actor-critic = two MLPs, inverse-CDF = the categorical, stats kept."""

from __future__ import annotations

import csv

import pytest
import torch
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.ppo import STAT_NAMES, ActorCritic, FusedActorCritic, PPOConfig, make_optimizer, ppo_update
from workflow_rl.trainer import train


def _copy_into_fused(plain: ActorCritic, fused: FusedActorCritic) -> None:
    with torch.no_grad():
        for net, mlp in enumerate((plain.actor, plain.critic)):
            fused.w1[net].copy_(mlp[0].weight.T)
            fused.b1[net, 0].copy_(mlp[0].bias)
            fused.w2[net].copy_(mlp[2].weight.T)
            fused.b2[net, 0].copy_(mlp[2].bias)
        fused.actor_head.load_state_dict(plain.actor[4].state_dict())
        fused.critic_head.load_state_dict(plain.critic[4].state_dict())


def test_fused_actor_critic_computes_and_differentiates_like_two_mlps():
    torch.manual_seed(0)
    plain, fused = ActorCritic(10, 7), FusedActorCritic(10, 7)
    _copy_into_fused(plain, fused)
    obs, actions = torch.randn(33, 10), torch.randint(0, 7, (33,))
    outputs = [agent.evaluate(obs, actions) for agent in (plain, fused)]
    for a, b in zip(*outputs, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    for logprob, entropy, value in outputs:
        (logprob.sum() + entropy.sum() + value.pow(2).sum()).backward()
    assert torch.allclose(plain.actor[0].weight.grad.T, fused.w1.grad[0], atol=1e-5)
    assert torch.allclose(plain.critic[2].weight.grad.T, fused.w2.grad[1], atol=1e-5)


def test_inverse_cdf_sampling_follows_the_policy_distribution():
    torch.manual_seed(1)
    agent = FusedActorCritic(4, 5)
    with torch.no_grad():
        agent.actor_head.bias.copy_(torch.tensor([2.0, 0.0, -1.0, 1.0, -3.0]))
        agent.actor_head.weight.zero_()
    with torch.inference_mode():
        actions, logprob, _ = agent.act(torch.zeros(200_000, 4))
    expected = torch.softmax(agent.actor_head.bias.detach(), dim=0)
    frequencies = torch.bincount(actions, minlength=5).float() / len(actions)
    assert torch.allclose(frequencies, expected, atol=0.005)
    assert torch.allclose(logprob, expected.log()[actions], atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_update_returns_its_statistics(fused):
    torch.manual_seed(2)
    agent = FusedActorCritic(6, 3) if fused else ActorCritic(6, 3)
    optimizer = make_optimizer(agent, 1e-2, fused)
    obs, actions = torch.randn(64, 6), torch.randint(0, 3, (64,))
    with torch.no_grad():
        old_logprob = agent.evaluate(obs, actions)[0]
    stats = ppo_update(
        agent, optimizer, obs, actions, old_logprob, torch.randn(64), torch.randn(64), PPOConfig(), torch.Generator()
    )
    assert list(stats) == list(STAT_NAMES)
    assert stats["value_loss"] > 0 and stats["entropy"] > 0 and 0 <= stats["clip_fraction"] <= 1
    assert stats["approx_kl"] > 0  # four epochs moved the policy away from the one that collected the data


def test_episode_log_carries_the_ppo_statistics(tmp_path):
    config = TrainConfig(n_envs=8, total_episodes=24, max_episodes=24, workflow=(2, 1, 0, 3, 4), out=tmp_path)
    train(with_trainer(config, "fast"), show_progress=False)
    with open(tmp_path / "episodes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 and all(rows[-1][name] != "" for name in STAT_NAMES)
    assert float(rows[-1]["value_loss"]) > 0


@pytest.mark.slow  # compiling the loss and its backward takes tens of seconds on one core
def test_compiled_loss_trains_and_reports_its_compile_time(tmp_path):
    config = TrainConfig(
        n_envs=8, total_episodes=16, max_episodes=16, workflow=(2, 1, 0, 3, 4), out=tmp_path, compile=True
    )
    result = train(with_trainer(config, "fast"), show_progress=False)
    assert result.compile_s > 0 and result.episodes == 16
