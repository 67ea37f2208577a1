"""Issue 17 item 4, measured: does a second core pay, with rollout collection and the PPO update overlapped?

``serial`` is the fast trainer's loop (rollout of ``update_steps`` steps, GAE, ``ppo_update``), one process.
``overlap`` runs the same pieces in two processes: this one collects rollout k with the policy of update
k - 1 while a learner process (fork) runs update k - 1 on rollout k - 1, so every rollout is collected by
a policy one update old (policy lag 1); PPO's ratio is taken against that behaviour policy's log-probs.
Both arms use the same seeds, episodes, simulator and PPO settings; the final policy of each plays the same
seeded evaluation episodes. ``python -m workflow_rl measure-overlap --out F`` writes the JSON.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from trainkit import ConfigError
from trainkit.timing import cpu_seconds
from workflow_rl.agents import make_agent
from workflow_rl.config import FAST
from workflow_rl.loop import evaluate_agent
from workflow_rl.ppo import PPOConfig, compute_gae, make_optimizer, ppo_update
from workflow_rl.sim import EPISODE_STEPS, N_ACTIONS, OBS_DIM, NetDefenseVectorEnv

__all__ = ["measure_overlap"]

WORKFLOW = (2, 1, 0, 3, 4)


class _Collector:
    """The fast loop's rollout: ``horizon`` steps of every env with the current policy, then GAE."""

    def __init__(self, n_envs: int, horizon: int, seed: int) -> None:
        self.env = NetDefenseVectorEnv(n_envs, red_agent="bline", workflow=WORKFLOW, seed=seed)
        self.obs = self.env.reset()[0]
        self.horizon, self.ppo = horizon, PPOConfig()
        self.returns: list[float] = []  # mean env return of each finished batch of episodes
        self._running = np.zeros(n_envs)

    def rollout(self, agent: torch.nn.Module) -> tuple[np.ndarray, ...]:
        n, horizon = len(self.obs), self.horizon
        obs = np.zeros((horizon, n, OBS_DIM), dtype=np.float32)
        actions, logprobs, values, rewards, dones = (np.zeros((horizon, n), dtype=np.float32) for _ in range(5))
        with torch.inference_mode():
            for t in range(horizon):
                action, logprob, value = agent.act(torch.as_tensor(self.obs))
                next_obs, reward, _, truncated, info = self.env.step(action.numpy())
                obs[t], actions[t], logprobs[t], values[t] = self.obs, action.numpy(), logprob.numpy(), value.numpy()
                rewards[t], dones[t] = reward * 0.1, truncated  # the trainer's default --reward-scale
                self._running += info["env_reward"]
                if truncated.all():
                    self.returns.append(float(self._running.mean()))
                    self._running[:] = 0
                self.obs = next_obs
            last_value = agent.value(torch.as_tensor(self.obs)).numpy()
        advantages, returns = compute_gae(rewards, values, dones, last_value, self.ppo.gamma, self.ppo.gae_lambda)
        # numpy, not tensors, through the pipe: torch's pickler would move every tensor into shared memory
        flat = [a.reshape(horizon * n, *a.shape[2:]) for a in (obs, actions.astype(np.int64), logprobs)]
        return (*flat, advantages.reshape(-1), returns.reshape(-1))


def _update(agent, optimizer, generator, batch: tuple[np.ndarray, ...]) -> None:
    ppo_update(agent, optimizer, *map(torch.from_numpy, batch), PPOConfig(), generator)


def _weights(agent: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: tensor.numpy().copy() for name, tensor in agent.state_dict().items()}


def _load(agent: torch.nn.Module, weights: dict[str, np.ndarray]) -> None:
    agent.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})


def _learner(conn: Connection, seed: int) -> None:
    """The learner process: update on each rollout it receives, send the new weights back."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    agent = make_agent(OBS_DIM, N_ACTIONS, fused=True)
    optimizer, generator = make_optimizer(agent, 1e-3, fused=True), torch.Generator().manual_seed(seed)
    conn.send(_weights(agent))
    while (batch := conn.recv()) is not None:
        _update(agent, optimizer, generator, batch)
        conn.send(_weights(agent))
    conn.close()


def _run(arm: str, n_envs: int, episodes: int, seed: int, eval_episodes: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    horizon = FAST["update_steps"]
    updates = episodes * EPISODE_STEPS // (n_envs * horizon)
    collector = _Collector(n_envs, horizon, seed)
    behaviour = make_agent(OBS_DIM, N_ACTIONS, fused=True)  # the policy that collects
    wall0, cpu0 = time.perf_counter(), cpu_seconds()  # the learner's CPU counts once it is joined
    if arm == "serial":
        optimizer, generator = make_optimizer(behaviour, 1e-3, fused=True), torch.Generator().manual_seed(seed)
        for _ in range(updates):
            _update(behaviour, optimizer, generator, collector.rollout(behaviour))
    else:
        here, there = mp.get_context("fork").Pipe()
        learner = mp.get_context("fork").Process(target=_learner, args=(there, seed), daemon=True)
        learner.start()
        _load(behaviour, here.recv())
        here.send(collector.rollout(behaviour))  # rollout 0, by the initial policy
        for _ in range(updates - 1):
            batch = collector.rollout(behaviour)  # rollout k, by the policy of update k - 1, while k - 1 runs
            _load(behaviour, here.recv())
            here.send(batch)
        _load(behaviour, here.recv())  # the weights after the last update
        here.send(None)
        learner.join()
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    final = evaluate_agent(behaviour, "bline", WORKFLOW, eval_episodes, seed=10_000 + seed, device=torch.device("cpu"))
    return {
        "arm": arm,
        "seed": seed,
        "updates": updates,
        "wall_s": wall,
        "cpu_s": cpu,
        "eval_return": final["return"],
        "last_batch_return": collector.returns[-1],
    }


def measure_overlap(n_envs: int, episodes: int, seeds: int, eval_episodes: int, command: str) -> dict[str, Any]:
    """Run both arms, alternating their order by seed, and summarise wall, CPU and return."""
    if episodes % n_envs:
        raise ConfigError(f"episodes ({episodes}) must be a multiple of n_envs ({n_envs})")
    for arm in ("serial", "overlap"):  # untimed warm-up: torch's first calls are slow
        _run(arm, n_envs, n_envs, 0, 1)
    load_before = os.getloadavg()
    rows = []
    for seed in range(seeds):
        order = ("serial", "overlap") if seed % 2 == 0 else ("overlap", "serial")
        rows += [_run(arm, n_envs, episodes, seed, eval_episodes) for arm in order]
    arms = {}
    for arm in ("serial", "overlap"):
        mine = [row for row in rows if row["arm"] == arm]
        arms[arm] = {key: float(np.median([row[key] for row in mine])) for key in ("wall_s", "cpu_s", "eval_return")}
    delta = [
        next(r for r in rows if r["arm"] == "overlap" and r["seed"] == s)["eval_return"]
        - next(r for r in rows if r["arm"] == "serial" and r["seed"] == s)["eval_return"]
        for s in range(seeds)
    ]
    wall_ratio = arms["serial"]["wall_s"] / arms["overlap"]["wall_s"]
    return {
        "summary": f"N={n_envs}, {episodes} episodes, {seeds} seeds: overlap/serial wall "
        f"{arms['overlap']['wall_s']:.2f}/{arms['serial']['wall_s']:.2f} s (serial/overlap {wall_ratio:.2f}x), "
        f"CPU {arms['overlap']['cpu_s']:.2f}/{arms['serial']['cpu_s']:.2f} s, eval return "
        f"{arms['overlap']['eval_return']:.0f}/{arms['serial']['eval_return']:.0f} "
        f"(overlap - serial per seed: {', '.join(f'{d:+.0f}' for d in delta)}); 1-minute load average "
        f"{load_before[0]:.1f} on {os.cpu_count()} CPUs before the runs"
        + (" (a loaded machine: the second core was not free)" if load_before[0] >= (os.cpu_count() or 1) else ""),
        "policy_lag": "overlap: rollout k is collected by the policy of update k - 1 (one update old)",
        "arms": arms,
        "return_delta_per_seed": delta,
        "rows": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "note": "taken on a shared machine under load from other jobs: wall times measure the neighbours too",
        },
        "settings": {"n_envs": n_envs, "episodes": episodes, "seeds": seeds, "eval_episodes": eval_episodes},
        "command": command,
    }
