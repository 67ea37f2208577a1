"""CleanRL-style PPO pieces: the actor-critic, GAE with a bootstrap at the rollout cut, the update.

The update reads top to bottom: advantages, then K epochs of shuffled minibatches with the clipped
surrogate, a value loss, an entropy bonus and gradient-norm clipping.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ActorCritic", "PPOConfig", "compute_gae", "ppo_update"]


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


def _mlp(inputs: int, outputs: int, out_gain: float) -> nn.Sequential:
    layers = [nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=np.sqrt(2) if layer is not layers[-1] else out_gain)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate 64-64 tanh actor and critic MLPs over the 90-value observation."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.actor = _mlp(obs_dim, n_actions, out_gain=0.01)
        self.critic = _mlp(obs_dim, 1, out_gain=1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions; returns (actions, log-probs, values).

        Sampling goes through ``torch.multinomial`` rather than ``Categorical``: same distribution,
        without the per-call argument checks that dominate at small batch sizes.
        """
        log_probs = torch.log_softmax(self.actor(obs), dim=-1)
        actions = torch.multinomial(log_probs.exp(), 1).squeeze(-1)
        return actions, log_probs.gather(-1, actions[:, None]).squeeze(-1), self.value(obs)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs of ``actions``, entropies and values (the categorical maths written out, as in ``act``)."""
        log_probs = torch.log_softmax(self.actor(obs), dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return log_probs.gather(-1, actions[:, None]).squeeze(-1), entropy, self.value(obs)


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
) -> dict[str, float]:
    """K epochs of clipped-surrogate minibatch updates over one flattened rollout."""
    batch = len(obs)
    minibatch = max(1, batch // config.num_minibatches)
    use_amp = config.mixed_precision and obs.device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    stats = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
    updates = 0
    for _ in range(config.k_epochs):
        order = torch.randperm(batch, generator=generator).to(obs.device)
        for start in range(0, batch, minibatch):
            index = order[start : start + minibatch]
            with autocast:
                new_logprob, entropy, value = agent.evaluate(obs[index], actions[index])
            adv = advantages[index]
            adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
            ratio = (new_logprob.float() - logprobs[index]).exp()
            policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - config.clip, 1 + config.clip) * adv).mean()
            value_loss = 0.5 * (value.float() - returns[index]).pow(2).mean()
            loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy.float().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()
            stats["policy_loss"] += policy_loss.item()
            stats["value_loss"] += value_loss.item()
            stats["entropy"] += entropy.float().mean().item()
            stats["clip_fraction"] += ((ratio - 1).abs() > config.clip).float().mean().item()
            updates += 1
    return {key: value / updates for key, value in stats.items()}
