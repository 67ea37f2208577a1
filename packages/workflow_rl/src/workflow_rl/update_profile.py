"""Where the fast trainer's PPO update spends its CPU time: the bench's short profile of what remains.

On one rollout-sized batch (N envs x ``update_steps`` steps) with the fast trainer's agent and optimizer:
process CPU milliseconds per minibatch step, split into the gradient (the closed-form one the fast trainer
uses at this N, and autograd's forward, ``zero_grad`` and backward beside it), gradient clipping and the
Adam step, as ``ppo_update`` runs them.
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

import torch
from torch import nn

from workflow_rl.agents import HIDDEN, FusedActorCritic, make_agent
from workflow_rl.config import FAST, FUSED_FORWARD_MAX_ENVS
from workflow_rl.ppo import PPOConfig, make_optimizer, ppo_loss
from workflow_rl.sim import N_ACTIONS, OBS_DIM

__all__ = ["PARTS", "profile_update"]

AUTOGRAD_PARTS = ("forward_and_loss", "zero_grad", "backward")
PARTS = ("closed_form_gradient", *AUTOGRAD_PARTS, "clip_grad_norm", "adam_step")


def _batch(size: int, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    obs = (torch.rand(size, OBS_DIM, generator=generator) < 0.2).float()  # binary-like, as the simulator's
    actions = torch.randint(0, N_ACTIONS, (size,), generator=generator)
    logprobs = torch.full((size,), -float(torch.log(torch.tensor(float(N_ACTIONS)))))
    return obs, actions, logprobs, torch.randn(size, generator=generator), torch.randn(size, generator=generator)


def _step_parts(
    agent: nn.Module, optimizer: torch.optim.Optimizer, part: list[torch.Tensor], closed_form: bool
) -> dict[str, float]:
    """One minibatch step of ``ppo_update``, its parts timed in process CPU seconds."""
    ppo, marks = PPOConfig(), [time.process_time()]
    if closed_form:
        agent.write_ppo_gradient(*part, ppo.clip, ppo.value_coef, ppo.entropy_coef)
        marks.append(time.process_time())
    else:
        loss, _ = ppo_loss(agent, *part, ppo.clip, ppo.value_coef, ppo.entropy_coef)
        marks.append(time.process_time())
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.process_time())
        loss.backward()
        marks.append(time.process_time())
    nn.utils.clip_grad_norm_(agent.parameters(), ppo.max_grad_norm, foreach=True)
    marks.append(time.process_time())
    optimizer.step()
    marks.append(time.process_time())
    names = (("closed_form_gradient",) if closed_form else AUTOGRAD_PARTS) + ("clip_grad_norm", "adam_step")
    return {name: b - a for name, (a, b) in zip(names, itertools.pairwise(marks), strict=True)}


def _median_ms(
    agent: nn.Module, part: list[torch.Tensor], variants: tuple[bool, ...], steps: int
) -> list[dict[str, float]]:
    """Median CPU ms by part for each variant (closed form or not), the variants' steps interleaved one by one
    so that a change in the machine's load reaches them alike; each variant steps its own copy of ``agent``."""
    agents = [copy.deepcopy(agent) for _ in variants]
    optimizers = [make_optimizer(each, PPOConfig().lr, fused=FAST["fused_adam"]) for each in agents]
    timings: list[list[dict[str, float]]] = [[] for _ in variants]
    for step in range(steps + 10):
        for index, closed_form in enumerate(variants):
            parts = _step_parts(agents[index], optimizers[index], part, closed_form)
            if step >= 10:  # 10 warm-up steps
                timings[index].append(parts)
    return [{name: sorted(t[name] for t in runs)[len(runs) // 2] * 1e3 for name in runs[0]} for runs in timings]


def matmul_flops(minibatch: int, obs_dim: int = OBS_DIM, n_actions: int = N_ACTIONS) -> int:
    """Matmul FLOPs of one minibatch step of the two 64-64 MLPs: the forward pass, every weight's gradient
    (as many FLOPs as the forward), and the input gradients of every layer but the first."""
    forward = 2 * minibatch * (2 * (obs_dim * HIDDEN + HIDDEN * HIDDEN) + HIDDEN * (n_actions + 1))
    input_grads = 2 * minibatch * (2 * HIDDEN * HIDDEN + HIDDEN * (n_actions + 1))
    return 2 * forward + input_grads


def matmul_gflops(minibatch: int, repeats: int = 200) -> float:
    """This machine's measured matmul rate at the network's widest layer shape (GFLOP per CPU-second)."""
    left, right = torch.randn(minibatch, OBS_DIM), torch.randn(OBS_DIM, 2 * HIDDEN)
    for _ in range(10):
        left @ right
    started = time.process_time()
    for _ in range(repeats):
        left @ right
    return 2 * minibatch * OBS_DIM * 2 * HIDDEN * repeats / (time.process_time() - started) / 1e9


def profile_update(n_envs: int, steps: int = 200) -> dict[str, Any]:
    """CPU ms per minibatch step by part (median over ``steps`` steps) at ``n_envs`` environments, for the
    gradient the fast trainer uses at this N and, where that is the closed form, for autograd's too."""
    torch.manual_seed(0)
    ppo = PPOConfig()
    size = n_envs * FAST["update_steps"]
    minibatch = size // ppo.num_minibatches
    part = [tensor[:minibatch] for tensor in _batch(size, 0)]
    agent = make_agent(OBS_DIM, N_ACTIONS, fused=n_envs <= FUSED_FORWARD_MAX_ENVS)
    closed_form = isinstance(agent, FusedActorCritic)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the trainer runs (--torch-threads 1); idle intra-op threads would spin on CPU
    try:
        timed = _median_ms(agent, part, (True, False) if closed_form else (False,), steps)
        per_part, autograd = timed[0], timed[-1]
        gflops = matmul_gflops(minibatch)
    finally:
        torch.set_num_threads(threads)
    step_ms, autograd_ms = sum(per_part.values()), sum(autograd.values())
    floor_ms = matmul_flops(minibatch) / (gflops * 1e9) * 1e3
    gradient = "closed-form gradient" if closed_form else "autograd"
    return {
        "summary": f"per minibatch step ({minibatch} samples, {gradient}) {step_ms:.2f} CPU ms: "
        + ", ".join(f"{name} {ms / step_ms:.0%}" for name, ms in per_part.items())
        + (f"; the same step with autograd {autograd_ms:.2f} ms" if closed_form else "")
        + f"; its matmuls alone at this machine's measured {gflops:.0f} GFLOP/s: {floor_ms:.2f} ms "
        f"({step_ms / floor_ms:.1f}x that floor)",
        "minibatch": minibatch,
        "closed_form": closed_form,
        "step_cpu_ms_by_part": per_part,
        "autograd_step_cpu_ms_by_part": autograd,
        "minibatch_steps_per_update": ppo.k_epochs * ppo.num_minibatches,
        "matmul_flops_per_step": matmul_flops(minibatch),
        "matmul_gflops_per_cpu_s": gflops,
        "step_at_flop_floor_ms": floor_ms,
        "note": "one minibatch of a synthetic batch of the rollout's shape; median of the steps after 10 warm-up "
        "steps; a whole update is minibatch_steps_per_update of these plus GAE and the shuffles. "
        "torch.profiler's operator table was left out: on this machine it cost 20 s of CPU and inflated Adam",
    }
