"""Scripted blue policies (sleep, random, react_restore, react_decoy, workflow_greedy) and batched evaluation.

Policies see only blue's observation, like a learned agent. They are the yardstick for learned returns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainkit import ConfigError
from workflow_rl.services import MAX_DECOYS
from workflow_rl.sim import (
    DECOY_SCALE,
    HOST_FEATURES,
    HOST_TYPES,
    N_ACTIONS,
    N_HOSTS,
    USER0,
    WORKFLOW_OFFSET,
    NetDefenseSim,
    SimParams,
)
from workflow_rl.workflows import ALL_WORKFLOWS, N_TYPES, episode_compliance

__all__ = ["BASELINES", "evaluate_policy", "host_ranks", "make_baseline"]

Policy = Callable[[np.ndarray], np.ndarray]
BASELINES = ("sleep", "random", "react_restore", "react_decoy", "workflow_greedy")
ANALYSE_OFFSET = 1
RESTORE_OFFSET = 1 + 2 * N_HOSTS
DECOY_OFFSET = 1 + 3 * N_HOSTS
# React-Decoy's placement order (mini_CAGE test_agent.py, Restore_decoys.decoy_order, hosts renumbered):
# enterprise2, op_server0, enterprise1, enterprise0, op_server0 x2, enterprise0, op_server0, enterprise0 x2.
DECOY_ORDER = np.array([3, 4, 2, 1, 4, 4, 1, 4, 1, 1])
# The k-th entry for a host wants that host to hold at least k decoys (capped at what the host takes).
_WANTED = np.array([min((DECOY_ORDER[: i + 1] == h).sum(), MAX_DECOYS[h]) for i, h in enumerate(DECOY_ORDER)])


def _decoys_placed(obs: np.ndarray) -> np.ndarray:
    left = obs[:, N_HOSTS * HOST_FEATURES : WORKFLOW_OFFSET] * DECOY_SCALE
    return MAX_DECOYS - np.rint(left).astype(np.int64)


def _seen_compromised(obs: np.ndarray) -> np.ndarray:
    """Hosts blue believes compromised (red's permanent foothold user0 left out)."""
    hosts = obs[:, : N_HOSTS * HOST_FEATURES].reshape(len(obs), N_HOSTS, HOST_FEATURES)
    seen = hosts[:, :, 2] > 0
    seen[:, USER0] = False
    return seen


def _workflow_rank(obs: np.ndarray) -> np.ndarray:
    """Rank of each unit type, read from the workflow one-hot in the observation."""
    code = obs[:, WORKFLOW_OFFSET:].reshape(len(obs), N_TYPES, N_TYPES)  # position, type
    return np.argmax(code, axis=1)  # for each type, the position that holds it


def host_ranks(obs: np.ndarray) -> np.ndarray:
    """(N, hosts): each host's priority rank under the workflow in the observation (0 = fix first)."""
    return np.take_along_axis(_workflow_rank(obs), np.broadcast_to(HOST_TYPES, (len(obs), N_HOSTS)), axis=1)


def make_baseline(name: str, seed: int = 0) -> Policy:
    """A batched policy: obs (N, OBS_DIM) -> actions (N,)."""
    rng = np.random.default_rng(seed)

    def sleep(obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)

    def random(obs: np.ndarray) -> np.ndarray:
        return rng.integers(0, N_ACTIONS, size=len(obs))

    def react_restore(obs: np.ndarray) -> np.ndarray:
        seen = _seen_compromised(obs)
        return np.where(seen.any(axis=1), RESTORE_OFFSET + np.argmax(seen, axis=1), 0)

    def react_decoy(obs: np.ndarray) -> np.ndarray:
        # Restore what was seen; otherwise place the next decoy of the order that is not yet in place.
        restore = react_restore(obs)
        missing = _decoys_placed(obs)[:, DECOY_ORDER] < _WANTED
        decoy = np.where(missing.any(axis=1), DECOY_OFFSET + DECOY_ORDER[np.argmax(missing, axis=1)], 0)
        return np.where(restore > 0, restore, decoy)

    idle_steps = 0  # workflow_greedy's sweep position; evaluation steps all envs together

    def workflow_greedy(obs: np.ndarray) -> np.ndarray:
        # Fix, in the workflow's priority order, what blue knows is compromised; when it knows of nothing,
        # Analyse the hosts in that same order, one a step, so that hidden compromises of the types that
        # matter most are found first. Every fix targets the top-priority type blue knows compromised.
        nonlocal idle_steps
        seen = _seen_compromised(obs)
        host_rank = host_ranks(obs)
        target = np.argmin(np.where(seen, host_rank, N_TYPES), axis=1)
        sweep = np.argsort(host_rank + np.where(np.arange(N_HOSTS) == USER0, N_TYPES, 0), axis=1, kind="stable")
        analyse = ANALYSE_OFFSET + sweep[:, idle_steps % (N_HOSTS - 1)]
        idle_steps += 1
        return np.where(seen.any(axis=1), RESTORE_OFFSET + target, analyse)

    policies = {
        "sleep": sleep,
        "random": random,
        "react_restore": react_restore,
        "react_decoy": react_decoy,
        "workflow_greedy": workflow_greedy,
    }
    if name not in policies:
        raise ConfigError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return policies[name]


def evaluate_policy(
    policy: Policy,
    red_agent: str = "bline",
    workflow: tuple[int, ...] = ALL_WORKFLOWS[0],
    episodes: int = 100,
    seed: int = 0,
    params: SimParams | None = None,
) -> dict[str, float]:
    """Play ``episodes`` episodes in one batch; mean/std env return and mean compliance (NaN-free mean)."""
    sim = NetDefenseSim(episodes, red_agent=red_agent, workflow=workflow, params=params, seed=seed)
    obs = sim.reset()
    returns = np.zeros(episodes)
    fixes = np.zeros(episodes)
    compliant = np.zeros(episodes)
    for _ in range(sim.params.episode_steps):
        obs, _, _, info = sim.step(policy(obs))
        returns += info["env_reward"]
        fixes += info["fix"]
        compliant += info["compliant"]
    compliance = episode_compliance(compliant, fixes)
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "compliance": float(np.nanmean(compliance)) if np.isfinite(compliance).any() else float("nan"),
        "episodes": episodes,
    }
