"""A numpy-batched network-defence simulator with CAGE-2 semantics (not CAGE-2 code).

13 hosts in 3 subnets, 5 unit types, 100-step episodes. Red is scripted and vectorized (``bline``,
``meander``, ``sleep``); blue has 53 actions: Sleep, then Analyse, Remove, Restore and Decoy for each
host. All N environments step together as arrays, and all reach the 100-step horizon together.

Decoys follow CAGE-2 (tables and source in :mod:`workflow_rl.services`): each host has a finite, ordered set;
a decoy action places the next one, which occupies the slot of an exploit it answers; red picks among the
host's services and decoys by exploit priority, and only picking the decoy fails (and is always seen).
Decoys stay until the host is restored. Blue observes how many decoys each host has left.

Within a step blue acts first, then red; the reward is read from the resulting state. Absolute
scores are calibrated to CAGE-2's bands for the scripted baselines, but they are not CAGE-2 scores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from trainkit import ConfigError
from workflow_rl.services import (
    DECOY_MASKS,
    EXPLOIT_BROKEN,
    FEMITTER_FIRST,
    FTP_SLOT,
    MAX_DECOYS,
    P_PRIORITY_EXPLOIT,
    SERVICES,
)
from workflow_rl.workflows import (
    ALL_WORKFLOWS,
    DEFAULT_ALIGNMENT_LAMBDA,
    WORKFLOW_DIM,
    alignment_reward,
    fix_compliance,
    one_hot,
    rank_of_type,
)

__all__ = [
    "ACTION_KINDS",
    "HOST_NAMES",
    "HOST_TYPES",
    "N_ACTIONS",
    "N_HOSTS",
    "OBS_DIM",
    "RED_AGENTS",
    "WORKFLOW_OFFSET",
    "NetDefenseEnv",
    "NetDefenseSim",
    "NetDefenseVectorEnv",
    "SimParams",
    "decode_actions",
]

HOST_NAMES: tuple[str, ...] = (
    "defender",
    "enterprise0",
    "enterprise1",
    "enterprise2",
    "op_server0",
    "op_host0",
    "op_host1",
    "op_host2",
    "user0",
    "user1",
    "user2",
    "user3",
    "user4",
)
# Unit type per host, indices into workflows.UNIT_TYPES.
HOST_TYPES = np.array([0, 1, 1, 1, 2, 3, 3, 3, 4, 4, 4, 4, 4], dtype=np.int64)
N_HOSTS = len(HOST_NAMES)
USER0, OP_SERVER = 8, 4
ACTION_KINDS: tuple[str, ...] = ("analyse", "remove", "restore", "decoy")
N_ACTIONS = 1 + len(ACTION_KINDS) * N_HOSTS
HOST_FEATURES = 4
DECOY_SCALE = 4.0  # the most decoys any host takes; blue sees decoys left / this
WORKFLOW_OFFSET = N_HOSTS * HOST_FEATURES + N_HOSTS  # host bits, then decoys left per host, then the workflow
OBS_DIM = WORKFLOW_OFFSET + WORKFLOW_DIM
EPISODE_STEPS = 100
RED_AGENTS = ("bline", "meander", "sleep")

# Per-step losses while red holds root (CAGE-2 constants): high-value hosts cost 1, others 0.1.
ROOT_COST = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.0, 0.1, 0.1, 0.1, 0.1], dtype=np.float32)
IMPACT_COST = 10.0
RESTORE_COST = 1.0

# bline: a random user host, the enterprise host it links to (user1/2 -> enterprise1, user3/4 -> enterprise0,
# mini_CAGE's CONNECTED_HOSTS), enterprise2, op_server0, then impact (kill chain).
BLINE_TAIL = (3, OP_SERVER)
ENTERPRISE_LINK = {9: 2, 10: 2, 11: 1, 12: 1}
# meander: every user host, the enterprise subnet, the operational subnet, then impact (breadth first).
MEANDER_CHAIN = (9, 10, 11, 12, 1, 2, 3, 0, 5, 6, 7, OP_SERVER)


@dataclass(frozen=True)
class SimParams:
    """Red's success and blue's detection probabilities.

    Calibrated (scripts in the README) so that sleep, react_restore and react_decoy land within 10% of
    CAGE-2's six published scores; mini_CAGE's own values are 1.0 and 0.95 on a different red agent model.
    """

    p_exploit: float = 0.9
    p_detect: float = 0.92
    episode_steps: int = EPISODE_STEPS


def decode_actions(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split flat actions into (kind, host): kind 0 = sleep, 1 analyse, 2 remove, 3 restore, 4 decoy."""
    actions = np.asarray(actions, dtype=np.int64)
    kind = np.where(actions == 0, 0, (actions - 1) // N_HOSTS + 1)
    host = np.where(actions == 0, 0, (actions - 1) % N_HOSTS)
    return kind, host


class NetDefenseSim:
    """N environments as arrays. ``step`` takes (N,) actions and returns arrays, never Python loops."""

    def __init__(
        self,
        n_envs: int,
        red_agent: str = "bline",
        workflow: tuple[int, ...] = ALL_WORKFLOWS[0],
        alignment_lambda: float = DEFAULT_ALIGNMENT_LAMBDA,
        params: SimParams | None = None,
        seed: int | None = None,
    ) -> None:
        if n_envs < 1:
            raise ConfigError(f"n_envs must be >= 1, got {n_envs}")
        if red_agent not in RED_AGENTS:
            raise ConfigError(f"red agent must be one of {', '.join(RED_AGENTS)}, got {red_agent!r}")
        self.n_envs = n_envs
        self.red_agent = red_agent
        self.params = params or SimParams()
        self.alignment_lambda = float(alignment_lambda)
        self.rng = np.random.default_rng(seed)
        self.set_workflow(workflow)
        n = n_envs
        self.access = np.zeros((n, N_HOSTS), dtype=np.int8)  # 0 none, 1 user, 2 root
        self.scanned = np.zeros((n, N_HOSTS), dtype=bool)
        self.decoys = np.zeros((n, N_HOSTS), dtype=np.int64)  # decoys placed so far, in the host's order
        self.flagged = np.zeros((n, N_HOSTS), dtype=bool)  # exploits monitoring saw (CybORG's sus_pids)
        self.femitter = np.zeros((n, N_HOSTS), dtype=bool)  # a Femitter was placed this episode (survives restore)
        self.known = np.zeros((n, N_HOSTS), dtype=np.int8)  # blue's belief: 0 clean, 1 user, 2 root
        self.activity = np.zeros((n, N_HOSTS, 2), dtype=bool)  # this step: scan seen, exploit seen
        self.chain = np.zeros((n, len(MEANDER_CHAIN)), dtype=np.int64)
        self.chain_len = len(BLINE_TAIL) + 2 if red_agent == "bline" else len(MEANDER_CHAIN)
        self.t = 0
        self._rows = np.arange(n)
        # The RNG state just before the latest reset: a checkpoint stores it, so that a resumed run replays
        # that reset (and every draw after it) exactly as the uninterrupted run made them.
        self.reset_rng_state: dict[str, Any] = copy.deepcopy(self.rng.bit_generator.state)
        self.fresh = False  # reset and not stepped since

    def rewind(self, state: dict[str, Any]) -> None:
        """Set the RNG to ``state`` (a ``reset_rng_state``): the next reset replays that reset and every draw after."""
        self.rng.bit_generator.state = copy.deepcopy(state)
        self.reset_rng_state = copy.deepcopy(state)
        self.fresh = False

    def set_workflow(self, workflow: tuple[int, ...]) -> None:
        self.workflow = tuple(workflow)
        self.rank = rank_of_type(self.workflow)
        self.workflow_code = one_hot(self.workflow)

    def reset(self) -> np.ndarray:
        self.reset_rng_state = copy.deepcopy(self.rng.bit_generator.state)
        self.fresh = True
        self.access[:] = 0
        self.access[:, USER0] = 2  # red's foothold; blue cannot remove it and it costs nothing
        self.scanned[:] = False
        self.decoys[:] = 0
        self.flagged[:] = False
        self.femitter[:] = False
        self.known[:] = 0
        self.known[:, USER0] = 2
        self.activity[:] = False
        if self.red_agent == "bline":
            self.chain[:, 0] = self.rng.integers(9, 13, size=self.n_envs)
            self.chain[:, 1] = np.where(self.chain[:, 0] <= 10, ENTERPRISE_LINK[9], ENTERPRISE_LINK[11])
            self.chain[:, 2 : self.chain_len] = BLINE_TAIL
        else:
            self.chain[:] = MEANDER_CHAIN
        self.t = 0
        return self.observe()

    def observe(self) -> np.ndarray:
        host = np.empty((self.n_envs, N_HOSTS, HOST_FEATURES), dtype=np.float32)
        host[:, :, 0:2] = self.activity
        host[:, :, 2] = self.known >= 1
        host[:, :, 3] = self.known == 2
        decoys_left = (MAX_DECOYS - self.decoys).astype(np.float32) / DECOY_SCALE
        code = np.broadcast_to(self.workflow_code, (self.n_envs, WORKFLOW_DIM))
        return np.concatenate([host.reshape(self.n_envs, -1), decoys_left, code], axis=1)

    def close(self) -> None:
        """Nothing to release; the trainer closes every engine the same way."""

    def compromised(self) -> np.ndarray:
        """The true compromise mask (red's foothold user0 excluded), as the trainer's true-state query sees it."""
        mask = self.access > 0
        mask[:, USER0] = False
        return mask

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance every env one step; returns (obs, reward, truncated, info) with info arrays
        ``env_reward``, ``alignment``, ``fix``, ``compliant``. Reset is the caller's job."""
        kind, host = decode_actions(actions)
        rows = self._rows
        is_fix = (kind == 2) | (kind == 3)
        # A fix is judged on the true state at the start of the step (the original queried it before each
        # step), i.e. the state blue's observation describes. Then red moves, then blue (mini_CAGE's order).
        compromised = self.compromised()
        compliant = fix_compliance(compromised, HOST_TYPES, host, is_fix, self.rank)
        alignment = alignment_reward(compliant, is_fix, compromised[rows, host], self.alignment_lambda)
        impact, caught = self._red()
        self._blue(kind, host)
        # Monitoring flags the exploits it saw this step; a Remove can act on them from the next step on.
        self.flagged |= caught
        env_reward = -(self.access == 2).astype(np.float32) @ ROOT_COST
        env_reward -= IMPACT_COST * impact + RESTORE_COST * (kind == 3)
        self.t += 1
        self.fresh = False
        truncated = np.full(self.n_envs, self.t >= self.params.episode_steps)
        info = {"env_reward": env_reward, "alignment": alignment, "fix": is_fix, "compliant": compliant}
        return self.observe(), env_reward + alignment, truncated, info

    def _blue(self, kind: np.ndarray, host: np.ndarray) -> None:
        rows = self._rows
        analyse = kind == 1
        self.known[rows[analyse], host[analyse]] = self.access[rows[analyse], host[analyse]]
        # CybORG's Remove stops only the processes monitoring flagged (sus_pids), and never a root session.
        remove = (kind == 2) & (self.access[rows, host] == 1) & self.flagged[rows, host]
        self.access[rows[remove], host[remove]] = 0
        self.known[rows[remove], host[remove]] = 0
        self.flagged[rows[(kind == 2) | (kind == 3)], host[(kind == 2) | (kind == 3)]] = False
        restore = kind == 3
        r_rows, r_host = rows[restore], host[restore]
        self.access[r_rows, r_host] = 0
        self.decoys[r_rows, r_host] = 0  # a restored host gets its default decoys back
        self.known[r_rows, r_host] = 0
        self.access[:, USER0] = 2
        self.known[:, USER0] = 2
        decoy = (kind == 4) & (self.decoys[rows, host] < MAX_DECOYS[host])
        self.decoys[rows[decoy], host[decoy]] += 1
        self.femitter[rows[decoy], host[decoy]] |= FEMITTER_FIRST[host[decoy]]

    def _red(self) -> tuple[np.ndarray, np.ndarray]:
        """One scripted red action per env; returns the impact mask and the (env, host) exploits blue saw."""
        self.activity[:] = False
        caught_mask = np.zeros((self.n_envs, N_HOSTS), dtype=bool)
        if self.red_agent == "sleep":
            return np.zeros(self.n_envs, dtype=bool), caught_mask
        rows = self._rows
        chain = self.chain[:, : self.chain_len]
        rooted = self.access[rows[:, None], chain] == 2
        if self.red_agent == "bline":
            # Keep the deepest foothold and push on from there (a restored earlier host is not revisited).
            deepest = np.where(rooted.any(axis=1), self.chain_len - 1 - np.argmax(rooted[:, ::-1], axis=1), -1)
            position = deepest + 1
        else:
            position = np.where(rooted.all(axis=1), self.chain_len, np.argmax(~rooted, axis=1))
        impact = position >= self.chain_len
        target = chain[rows, np.minimum(position, self.chain_len - 1)]
        impact &= self.access[:, OP_SERVER] == 2

        acting = ~impact
        scan = acting & ~self.scanned[rows, target]
        self.scanned[rows[scan], target[scan]] = True
        self.activity[rows[scan], target[scan], 0] = True

        level = self.access[rows, target]
        exploit = acting & ~scan & (level == 0)
        draws = self.rng.random((4, self.n_envs))
        trapped, works = self._pick_service(target, draws[2], draws[3])
        trapped &= exploit
        success = exploit & works & (draws[0] < self.params.p_exploit)
        seen = trapped | (exploit & (draws[1] < self.params.p_detect))
        self.access[rows[success], target[success]] = 1
        self.activity[rows[seen], target[seen], 1] = True
        caught = seen & success
        self.known[rows[caught], target[caught]] = np.maximum(self.known[rows[caught], target[caught]], 1)
        caught_mask[rows[caught], target[caught]] = True

        escalate = acting & ~scan & (level == 1)
        self.access[rows[escalate], target[escalate]] = 2
        # An impact is loud: blue sees it and learns that the op server is rooted.
        self.activity[impact, OP_SERVER, 1] = True
        self.known[impact, OP_SERVER] = 2
        return impact, caught_mask

    def _pick_service(
        self, target: np.ndarray, u_pick: np.ndarray, u_other: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Red's exploit choice on ``target`` (mini_CAGE ``update_red``): the highest-priority occupied slot
        with probability 0.75, else another occupied slot uniformly. Returns (picked a decoy, exploit can work)."""
        rows = self._rows
        decoy_slots = DECOY_MASKS[target, self.decoys[rows, target]]
        decoy_slots[:, FTP_SLOT] |= self.femitter[rows, target]
        occupied = SERVICES[target] | decoy_slots
        first = np.argmax(occupied, axis=1)
        others = occupied.copy()
        others[rows, first] = False
        n_others = others.sum(axis=1)
        k = np.floor(u_other * n_others)
        other = np.argmax(np.cumsum(others, axis=1) > k[:, None], axis=1)
        chosen = np.where((u_pick < P_PRIORITY_EXPLOIT) | (n_others == 0), first, other)
        trapped = decoy_slots[rows, chosen]
        works = SERVICES[target, chosen] & ~EXPLOIT_BROKEN[target, chosen]
        return trapped, works


class NetDefenseVectorEnv(VectorEnv):
    """``gymnasium.vector.VectorEnv`` over :class:`NetDefenseSim`.

    Autoreset mode SAME_STEP: all envs reach the horizon together; the returned observation is
    then the reset one and the last one is in ``info["final_obs"]``.
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int, **sim_kwargs: Any) -> None:
        self.sim = NetDefenseSim(num_envs, **sim_kwargs)
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.sim.rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        return self.sim.reset(), {}

    def set_workflow(self, workflow: tuple[int, ...]) -> None:
        """Condition every env on another workflow (the trainer moves through several)."""
        self.sim.set_workflow(workflow)

    # The trainer's engine interface beyond VectorEnv (shared with the original's SharedMemoryEngine):
    @property
    def fresh(self) -> bool:
        """Reset and not stepped since (then ``observe`` continues the stream without another reset)."""
        return self.sim.fresh

    def observe(self) -> np.ndarray:
        return self.sim.observe()

    def rng_state(self) -> dict[str, Any]:
        """The simulator's RNG state just before its latest reset: what a checkpoint stores."""
        return copy.deepcopy(self.sim.reset_rng_state)

    def restore_rng_state(self, state: dict[str, Any]) -> None:
        self.sim.rewind(state)

    def step(self, actions: np.ndarray):
        obs, reward, truncated, info = self.sim.step(actions)
        terminated = np.zeros(self.num_envs, dtype=bool)
        if truncated[0]:
            info = {**info, "final_obs": obs}
            obs = self.sim.reset()
        return obs, reward, terminated, truncated, info


class NetDefenseEnv(gym.Env):
    """The same simulator at N = 1, as a plain ``gymnasium.Env`` (passes ``check_env``)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, **sim_kwargs: Any) -> None:
        self.sim = NetDefenseSim(1, **sim_kwargs)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.sim.rng = np.random.default_rng(seed)
        return self.sim.reset()[0], {}

    def step(self, action: int):
        obs, reward, truncated, info = self.sim.step(np.array([action]))
        scalar_info = {key: value[0].item() for key, value in info.items()}
        return obs[0], float(reward[0]), False, bool(truncated[0]), scalar_info

    def true_compromised(self) -> np.ndarray:
        """The true-state query of the original path: which hosts red holds right now."""
        return self.sim.compromised()[0]
