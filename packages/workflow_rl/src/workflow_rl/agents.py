"""The two actor-critic layouts: the original's two ``nn.Sequential`` MLPs and the fast trainer's fused one.

``FusedActorCritic`` holds the same two 64-64 tanh MLPs, with every weight a slice of one flat parameter:
a layer of both networks is one batched matmul, gradient clipping and Adam see one tensor, and the PPO
loss's gradient can be written in closed form (:meth:`FusedActorCritic.write_ppo_gradient`). At the small
minibatches of N=32 the update's cost is per-call overhead, not arithmetic, and autograd's graph costs
about a third of a minibatch step. Which layout a trainer uses is a config setting.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["HIDDEN", "ActorCritic", "FusedActorCritic", "make_agent"]

HIDDEN = 64


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
    """The same two MLPs as slices of one flat parameter; ``baddbmm`` runs a layer of both in one call.

    Slice 0 of ``w1``/``b1``/``w2``/``b2`` is the actor's, slice 1 the critic's (weights stored (in, out)), so
    the maths and the gradients are those of two independent MLPs; only the number of kernel calls changes.
    """

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        nn.Module.__init__(self)
        self.shapes = {
            "w1": (2, obs_dim, HIDDEN),
            "b1": (2, 1, HIDDEN),
            "w2": (2, HIDDEN, HIDDEN),
            "b2": (2, 1, HIDDEN),
            "actor_w": (n_actions, HIDDEN),  # (out, in), as nn.Linear stores a head
            "actor_b": (n_actions,),
            "critic_w": (1, HIDDEN),
            "critic_b": (1,),
        }
        self.flat = nn.Parameter(torch.zeros(sum(math.prod(shape) for shape in self.shapes.values())))
        with torch.no_grad():
            weights = self.split(self.flat)
            for weight in (weights["w1"], weights["w2"]):
                for net in range(2):  # orthogonal_ on the (out, in) view, as nn.Linear stores it
                    nn.init.orthogonal_(weight[net].T, gain=math.sqrt(2))
            nn.init.orthogonal_(weights["actor_w"], gain=0.01)
            nn.init.orthogonal_(weights["critic_w"], gain=1.0)

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views of ``flat`` (the parameter, or its gradient)."""
        sizes = [math.prod(shape) for shape in self.shapes.values()]
        return {
            name: part.view(shape) for (name, shape), part in zip(self.shapes.items(), flat.split(sizes), strict=True)
        }

    def _weights(self) -> dict[str, torch.Tensor]:
        """Named views of the parameter: built in the graph when autograd records, else cached (splitting
        costs about a tenth of a rollout step's forward pass at N = 32)."""
        if torch.is_grad_enabled():
            return self.split(self.flat)
        key = (id(self.flat), self.flat.data_ptr())
        if getattr(self, "_cached_key", None) != key:
            with torch.inference_mode(False):  # plain views, usable outside inference mode too
                self._cached_views = self.split(self.flat.detach())
            self._cached_key = key
        return self._cached_views

    def _layers(self, obs: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        weights = self._weights()
        hidden1 = torch.tanh(torch.baddbmm(weights["b1"], obs.expand(2, *obs.shape), weights["w1"]))
        hidden2 = torch.tanh(torch.baddbmm(weights["b2"], hidden1, weights["w2"]))
        return weights, hidden1, hidden2

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights, _, hidden = self._layers(obs)
        logits = torch.addmm(weights["actor_b"], hidden[0], weights["actor_w"].T)
        return logits, torch.addmm(weights["critic_b"], hidden[1], weights["critic_w"].T).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self(obs)[1]

    @torch.no_grad()
    def write_ppo_gradient(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        old_logprob: torch.Tensor,
        adv: torch.Tensor,
        returns: torch.Tensor,
        clip: float,
        value_coef: float,
        entropy_coef: float,
    ) -> torch.Tensor:
        """The gradient of :func:`workflow_rl.ppo.ppo_loss` for one minibatch, in closed form, written into
        ``flat.grad`` (autograd's result to float rounding, tested); returns the loss's statistics."""
        weights, hidden1, hidden2 = self._layers(obs)
        batch = len(obs)
        logits = torch.addmm(weights["actor_b"], hidden2[0], weights["actor_w"].T)
        value = torch.addmm(weights["critic_b"], hidden2[1], weights["critic_w"].T).squeeze(-1)
        log_probs = torch.log_softmax(logits, dim=-1)
        probs = log_probs.exp()
        entropy = -(probs * log_probs).sum(-1)
        log_ratio = log_probs.gather(-1, actions[:, None]).squeeze(-1) - old_logprob
        ratio = log_ratio.exp()
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
        surrogate, clipped = ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv
        # d(-mean(min(surrogate, clipped)))/d log-prob: -adv*ratio/B where the unclipped term is the minimum
        # (on a tie the clamp is the identity, so autograd's split of the tie sums to the same), else 0.
        grad_logprob = torch.where(surrogate <= clipped, adv * ratio, 0.0).div_(-batch)
        grad_logits = probs * (log_probs + entropy[:, None]).mul_(entropy_coef / batch).sub_(grad_logprob[:, None])
        grad_logits.scatter_add_(-1, actions[:, None], grad_logprob[:, None])
        grad_value = (value - returns).mul_(value_coef / batch)

        if self.flat.grad is None:
            self.flat.grad = torch.empty_like(self.flat)
        grads = self.split(self.flat.grad)
        torch.mm(grad_logits.T, hidden2[0], out=grads["actor_w"])
        torch.sum(grad_logits, 0, out=grads["actor_b"])
        torch.mm(grad_value[None], hidden2[1], out=grads["critic_w"])
        torch.sum(grad_value, 0, keepdim=True, out=grads["critic_b"])
        grad_hidden2 = torch.stack([grad_logits @ weights["actor_w"], grad_value[:, None] * weights["critic_w"]])
        grad_pre2 = torch.ops.aten.tanh_backward(grad_hidden2, hidden2)
        torch.bmm(hidden1.transpose(1, 2), grad_pre2, out=grads["w2"])
        torch.sum(grad_pre2, 1, keepdim=True, out=grads["b2"])
        grad_pre1 = torch.ops.aten.tanh_backward(torch.bmm(grad_pre2, weights["w2"].transpose(1, 2)), hidden1)
        torch.bmm(obs.T.expand(2, *obs.T.shape), grad_pre1, out=grads["w1"])
        torch.sum(grad_pre1, 1, keepdim=True, out=grads["b1"])

        policy_loss = -torch.min(surrogate, clipped).mean()
        value_loss = 0.5 * (value - returns).pow(2).mean()
        clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        approx_kl = ((ratio - 1) - log_ratio).mean()
        return torch.stack([policy_loss, value_loss, entropy.mean(), clip_fraction, approx_kl])


def make_agent(obs_dim: int, n_actions: int, fused: bool) -> ActorCritic:
    return FusedActorCritic(obs_dim, n_actions) if fused else ActorCritic(obs_dim, n_actions)
