"""CleanRL-style PPO pieces: GAE with a bootstrap at the rollout cut, the clipped-surrogate loss, the update.

The update reads top to bottom: K epochs of shuffled minibatches with the clipped surrogate, a value
loss, an entropy bonus and gradient-norm clipping. Its statistics (losses, entropy, clip fraction,
approximate KL) stay on the device until the last minibatch, so the loop never waits on the host. The
networks are in :mod:`workflow_rl.agents`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from workflow_rl.agents import ActorCritic, FusedActorCritic

__all__ = ["STAT_NAMES", "PPOConfig", "compute_gae", "make_optimizer", "ppo_loss", "ppo_update"]


@dataclass(frozen=True)
class PPOConfig:
    lr: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    k_epochs: int = 4
    num_minibatches: int = 4
    clip: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    mixed_precision: bool = False  # only takes effect on CUDA


def make_optimizer(agent: nn.Module, lr: float, fused: bool) -> torch.optim.Optimizer:
    """Adam (eps 1e-5, CleanRL's value); ``fused`` runs one kernel over all parameters instead of a loop."""
    return torch.optim.Adam(agent.parameters(), lr=lr, eps=1e-5, fused=fused or None)


def compute_gae(
    rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_value: np.ndarray, gamma: float, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """GAE over (T, N) arrays. ``dones[t]`` marks that step t ended an episode; ``last_value`` is
    V(s_T), the bootstrap where the rollout cuts an episode (ignored for envs whose last step was done)."""
    steps = len(rewards)
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(last_value)
    for t in reversed(range(steps)):
        next_value = last_value if t == steps - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages, advantages + values


LossFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def ppo_loss(
    agent: ActorCritic,
    obs: torch.Tensor,
    actions: torch.Tensor,
    old_logprob: torch.Tensor,
    adv: torch.Tensor,
    returns: torch.Tensor,
    clip: float,
    value_coef: float,
    entropy_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped-surrogate loss of one minibatch and its statistics (policy loss, value loss, entropy,
    clip fraction, approximate KL) as one detached tensor, so that nothing here syncs with the host."""
    new_logprob, entropy, value = agent.evaluate(obs, actions)
    adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
    log_ratio = new_logprob.float() - old_logprob
    ratio = log_ratio.exp()
    policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
    value_loss = 0.5 * (value.float() - returns).pow(2).mean()
    entropy_mean = entropy.float().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy_mean
    with torch.no_grad():
        clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        approx_kl = ((ratio - 1) - log_ratio).mean()  # the low-variance estimator CleanRL logs
        stats = torch.stack([policy_loss, value_loss, entropy_mean, clip_fraction, approx_kl])
    return loss, stats


STAT_NAMES = ("policy_loss", "value_loss", "entropy", "clip_fraction", "approx_kl")


def ppo_update(
    agent: ActorCritic,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    actions: torch.Tensor,
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: PPOConfig,
    generator: torch.Generator,
    loss_fn: LossFn = ppo_loss,
    closed_form: bool = False,
) -> dict[str, float]:
    """K epochs of clipped-surrogate minibatch updates over one flattened rollout; returns mean statistics.

    ``closed_form`` takes each minibatch's gradient from ``FusedActorCritic.write_ppo_gradient`` (the same
    loss, differentiated by hand) instead of autograd on ``loss_fn``."""
    if closed_form and not isinstance(agent, FusedActorCritic):
        raise TypeError("the closed-form PPO gradient is written for FusedActorCritic")
    batch = len(obs)
    minibatch = max(1, batch // config.num_minibatches)
    use_amp = config.mixed_precision and obs.device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    totals = torch.zeros(len(STAT_NAMES), device=obs.device)
    steps = 0
    data = (obs, actions, logprobs, advantages, returns)
    for _ in range(config.k_epochs):
        order = torch.randperm(batch, generator=generator).to(obs.device)
        # One gather per tensor and epoch; the minibatches are then contiguous slices (views) of it.
        shuffled = [tensor[order] for tensor in data]
        for start in range(0, batch, minibatch):
            part = [tensor[start : start + minibatch] for tensor in shuffled]
            if closed_form:
                stats = agent.write_ppo_gradient(*part, config.clip, config.value_coef, config.entropy_coef)
            else:
                with autocast:
                    loss, stats = loss_fn(agent, *part, config.clip, config.value_coef, config.entropy_coef)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm, foreach=True)
            optimizer.step()
            totals += stats
            steps += 1
    return dict(zip(STAT_NAMES, (totals / steps).tolist(), strict=True))  # the one host sync of the update
