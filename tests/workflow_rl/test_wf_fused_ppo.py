"""The fast update keeps the maths: fused actor-critic = two MLPs, inverse-CDF = the categorical, stats kept."""

from __future__ import annotations

import csv

import pytest
import torch
from workflow_rl.agents import ActorCritic, FusedActorCritic
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.ppo import STAT_NAMES, PPOConfig, make_optimizer, ppo_loss, ppo_update
from workflow_rl.trainer import train


def _copy_into_fused(plain: ActorCritic, fused: FusedActorCritic) -> None:
    weights = fused.split(fused.flat.data)
    with torch.no_grad():
        for net, mlp in enumerate((plain.actor, plain.critic)):
            weights["w1"][net].copy_(mlp[0].weight.T)
            weights["b1"][net, 0].copy_(mlp[0].bias)
            weights["w2"][net].copy_(mlp[2].weight.T)
            weights["b2"][net, 0].copy_(mlp[2].bias)
        for name, layer in (("actor", plain.actor[4]), ("critic", plain.critic[4])):
            weights[f"{name}_w"].copy_(layer.weight)
            weights[f"{name}_b"].copy_(layer.bias)


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
    grads = fused.split(fused.flat.grad)
    assert torch.allclose(plain.actor[0].weight.grad.T, grads["w1"][0], atol=1e-5)
    assert torch.allclose(plain.critic[2].weight.grad.T, grads["w2"][1], atol=1e-5)
    assert torch.allclose(plain.actor[4].weight.grad, grads["actor_w"], atol=1e-5)


@pytest.mark.parametrize("log_ratio_scale", [0.0, 0.5])  # ratio 1 (first minibatch: ties) and far outside the clip
def test_closed_form_gradient_is_autograds(log_ratio_scale):
    torch.manual_seed(3)
    agent = FusedActorCritic(12, 9)
    obs, actions = (torch.rand(70, 12) < 0.3).float(), torch.randint(0, 9, (70,))
    adv, returns = torch.randn(70), torch.randn(70)
    with torch.no_grad():
        old_logprob = agent.evaluate(obs, actions)[0] + log_ratio_scale * torch.randn(70)
    loss, stats = ppo_loss(agent, obs, actions, old_logprob, adv, returns, 0.2, 0.5, 0.01)
    loss.backward()
    expected = agent.flat.grad.clone()
    closed_stats = agent.write_ppo_gradient(obs, actions, old_logprob, adv, returns, 0.2, 0.5, 0.01)
    assert torch.allclose(agent.flat.grad, expected, rtol=1e-4, atol=1e-7)
    assert torch.allclose(closed_stats, stats, atol=1e-6)
    if log_ratio_scale:
        assert 0 < float(stats[3]) < 1  # some samples were clipped and some not: both branches were checked


def test_closed_form_update_follows_the_autograd_update():
    torch.manual_seed(4)
    agents = [FusedActorCritic(6, 3) for _ in range(2)]
    agents[1].load_state_dict(agents[0].state_dict())
    initial = agents[0].flat.detach().clone()
    obs, actions = torch.randn(64, 6), torch.randint(0, 3, (64,))
    with torch.no_grad():
        old_logprob = agents[0].evaluate(obs, actions)[0]
    adv, returns = torch.randn(64), torch.randn(64)
    stats = []
    for agent, closed_form in zip(agents, (False, True), strict=True):
        optimizer = make_optimizer(agent, 1e-2, fused=True)
        batch = (obs, actions, old_logprob, adv, returns)
        stats.append(ppo_update(agent, optimizer, *batch, PPOConfig(), torch.Generator(), closed_form=closed_form))
    # 16 Adam steps of 1e-2 move weights by up to 0.16; rounding differences stay below 1e-4
    assert torch.allclose(agents[0].flat, agents[1].flat, atol=1e-4)
    assert not torch.allclose(agents[0].flat, initial, atol=1e-2)
    assert stats[0] == pytest.approx(stats[1], abs=1e-5)
    with pytest.raises(TypeError, match="FusedActorCritic"):
        ppo_update(ActorCritic(6, 3), optimizer, *batch, PPOConfig(), torch.Generator(), closed_form=True)


def test_inverse_cdf_sampling_follows_the_policy_distribution():
    torch.manual_seed(1)
    agent = FusedActorCritic(4, 5)
    weights = agent.split(agent.flat.data)
    weights["actor_b"].copy_(torch.tensor([2.0, 0.0, -1.0, 1.0, -3.0]))
    weights["actor_w"].zero_()
    with torch.inference_mode():
        actions, logprob, _ = agent.act(torch.zeros(200_000, 4))
    expected = torch.softmax(weights["actor_b"], dim=0)
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
