"""CleanRL-style PPO pieces: two actor-critic layouts, GAE with a bootstrap at the rollout cut, the update.

The update reads top to bottom: K epochs of shuffled minibatches with the clipped surrogate, a value
loss, an entropy bonus and gradient-norm clipping. Its statistics (losses, entropy, clip fraction,
approximate KL) stay on the device until the last minibatch, so the loop never waits on the host.

``ActorCritic`` is the original layout (two ``nn.Sequential`` MLPs). ``FusedActorCritic`` holds the same two
64-64 tanh MLPs as stacked weights, so one batched matmul runs a layer of both; at small N the update's
cost is per-call overhead, not arithmetic. Which one a trainer uses is a config setting.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "ActorCritic",
    "FusedActorCritic",
    "PPOConfig",
    "compute_gae",
    "make_agent",
    "make_optimizer",
    "ppo_update",
]

HIDDEN = 64


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
    layers = [nn.Linear(inputs, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, outputs)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=np.sqrt(2) if layer is not layers[-1] else out_gain)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def _sample(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions by inverse-CDF sampling (one uniform per row against the cumulative probabilities: the same
    distribution as ``Categorical``, without its argument checks) and their log-probabilities."""
    log_probs = torch.log_softmax(logits, dim=-1)
    cdf = log_probs.exp().cumsum(-1)
    uniform = torch.rand(len(logits), 1, device=logits.device) * cdf[:, -1:]
    actions = (cdf < uniform).sum(-1).clamp_(max=logits.shape[-1] - 1)
    return actions, log_probs.gather(-1, actions[:, None]).squeeze(-1)


def _log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return log_probs.gather(-1, actions[:, None]).squeeze(-1), entropy


class ActorCritic(nn.Module):
    """Separate 64-64 tanh actor and critic MLPs over the observation (the original layout)."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.actor = _mlp(obs_dim, n_actions, out_gain=0.01)
        self.critic = _mlp(obs_dim, 1, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action logits, values)."""
        return self.actor(obs), self.critic(obs).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions; returns (actions, log-probs, values)."""
        logits, values = self(obs)
        actions, log_prob = _sample(logits)
        return actions, log_prob, values

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs of ``actions``, entropies and values."""
        logits, values = self(obs)
        log_prob, entropy = _log_prob_entropy(logits, actions)
        return log_prob, entropy, values


class FusedActorCritic(ActorCritic):
    """The same two MLPs with their hidden layers stacked: ``baddbmm`` runs a layer of both in one call.

    Parameters are separate per network (slice 0 actor, slice 1 critic), so the maths and the gradients are
    those of two independent MLPs; only the number of kernel launches changes.
    """

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        nn.Module.__init__(self)
        self.w1 = nn.Parameter(torch.empty(2, obs_dim, HIDDEN))
        self.b1 = nn.Parameter(torch.zeros(2, 1, HIDDEN))
        self.w2 = nn.Parameter(torch.empty(2, HIDDEN, HIDDEN))
        self.b2 = nn.Parameter(torch.zeros(2, 1, HIDDEN))
        self.actor_head = nn.Linear(HIDDEN, n_actions)
        self.critic_head = nn.Linear(HIDDEN, 1)
        for weight in (self.w1, self.w2):
            for net in range(2):  # orthogonal_ on the (out, in) view, as nn.Linear stores it
                nn.init.orthogonal_(weight.data[net].T, gain=math.sqrt(2))
        for head, gain in ((self.actor_head, 0.01), (self.critic_head, 1.0)):
            nn.init.orthogonal_(head.weight, gain=gain)
            nn.init.zeros_(head.bias)

    def _hidden(self, obs: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(torch.baddbmm(self.b1, obs.expand(2, *obs.shape), self.w1))
        return torch.tanh(torch.baddbmm(self.b2, hidden, self.w2))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self._hidden(obs)
        return self.actor_head(hidden[0]), self.critic_head(hidden[1]).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self(obs)[1]


def make_agent(obs_dim: int, n_actions: int, fused: bool) -> ActorCritic:
    return FusedActorCritic(obs_dim, n_actions) if fused else ActorCritic(obs_dim, n_actions)


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
) -> dict[str, float]:
    """K epochs of clipped-surrogate minibatch updates over one flattened rollout; returns mean statistics."""
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
            with autocast:
                loss, stats = loss_fn(agent, *part, config.clip, config.value_coef, config.entropy_coef)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm, foreach=True)
            optimizer.step()
            totals += stats
            steps += 1
    return dict(zip(STAT_NAMES, (totals / steps).tolist(), strict=True))  # the one host sync of the update
