"""The original path's env machinery: one process per environment, a barrier every step.

Observations, env rewards and done flags live in one ``SharedMemory`` block; each worker has a
``Pipe`` for commands and acks. The block's name is unlinked as soon as every worker has attached, so
nothing is left in ``/dev/shm`` whichever process is killed later. Every step the trainer first queries
each worker's true state (which hosts red holds, for compliance, as the original did with CybORG's
true-state view), then sends the actions and waits for every ack. As in the original's worker, a query is
answered from a cache read afresh at each episode start and every 10 steps, so compliance is judged on a
state up to 9 steps old. (The original also queried a second time after each step, for a value that this
trainer does not need; that round trip is not copied, so this arm is, if anything, cheaper than the original.)
A worker that dies is noticed through its process sentinel: the others are shut down before the error
reaches the user.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import secrets
import weakref
from multiprocessing.connection import Connection, wait
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from trainkit import CheckpointError, TrainkitError
from workflow_rl.sim import HOST_TYPES, OBS_DIM, NetDefenseEnv, SimParams, decode_actions
from workflow_rl.workflows import alignment_reward, fix_compliance, rank_of_type

__all__ = ["SHM_PREFIX", "SharedMemoryEngine", "WorkerDiedError"]

SHM_PREFIX = "wfrl_"
ACK_TIMEOUT_S = 120.0
PARENT_CHECK_S = 1.0


class WorkerDiedError(TrainkitError):
    """A worker process of the original path exited while the trainer waited on it."""


def _views(buffer: memoryview, n_envs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    obs = np.ndarray((n_envs, OBS_DIM), dtype=np.float32, buffer=buffer)
    reward = np.ndarray((n_envs,), dtype=np.float32, buffer=buffer, offset=obs.nbytes)
    done = np.ndarray((n_envs,), dtype=np.bool_, buffer=buffer, offset=obs.nbytes + reward.nbytes)
    return obs, reward, done


def _block_size(n_envs: int) -> int:
    return n_envs * (OBS_DIM * 4 + 4 + 1)


TRUE_STATE_CACHE_STEPS = 10


class _TrueStateCache:
    """The original worker's cache: a true-state query returns the state read at most
    ``TRUE_STATE_CACHE_STEPS`` steps ago, read afresh at each episode start and then every 10 steps
    (cage2-workflow-search-rl, workflow_rl/parallel_env_shared_memory_optimized.py @ f01dabb,
    ``OptimizedEnvWorker``: ``cache_update_interval = 10``; its trainer queries through it every step)."""

    def __init__(self) -> None:
        self.state: np.ndarray | None = None
        self.steps = 0

    def query(self, env: NetDefenseEnv) -> np.ndarray:
        if self.state is None or self.steps >= TRUE_STATE_CACHE_STEPS:
            self.state, self.steps = env.true_compromised().copy(), 0
        return self.state

    def forget(self) -> None:
        self.state, self.steps = None, 0


def _worker(
    index: int,
    conn: Connection,
    shm_name: str,
    n_envs: int,
    red_agent: str,
    workflow: tuple[int, ...],
    params: SimParams,
    seed: int,
) -> None:
    parent = os.getppid()
    shm = SharedMemory(name=shm_name)
    # The trainer unlinks the name as soon as every worker has attached. Attaching registered the name with
    # the trainer's resource tracker, which the workers share; the trainer's unlink unregisters it once.
    conn.send("attached")
    obs_view, reward_view, done_view = _views(shm.buf, n_envs)
    # The env knows nothing of alignment; the trainer adds it from the true-state query.
    env = NetDefenseEnv(red_agent=red_agent, workflow=workflow, alignment_lambda=0.0, params=params, seed=seed)
    true_state = _TrueStateCache()
    try:
        while True:
            # Forked siblings hold copies of this pipe's other end, so a dead trainer gives no EOF here:
            # watch the parent instead, so that no worker outlives a killed trainer.
            while not conn.poll(PARENT_CHECK_S):
                if os.getppid() != parent:
                    return
            command, argument = conn.recv()
            if command == "step":
                obs, _, _, truncated, info = env.step(argument)
                obs_view[index], reward_view[index], done_view[index] = obs, info["env_reward"], truncated
                true_state.steps += 1
                conn.send(None)
            elif command == "true_state":
                conn.send(true_state.query(env))
            elif command == "reset":
                obs_view[index] = env.reset()[0]
                done_view[index] = False
                true_state.forget()
                conn.send(None)
            elif command == "workflow":
                env.sim.set_workflow(argument)
                obs_view[index] = env.sim.observe()[0]  # the workflow one-hot is part of the observation
                conn.send(None)
            elif command == "rng_state":
                conn.send(env.sim.reset_rng_state)
            elif command == "restore_rng_state":
                env.sim.rewind(argument)
                conn.send(None)
            else:
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        del obs_view, reward_view, done_view
        shm.close()


class SharedMemoryEngine:
    """N worker processes stepping one scalar env each, synchronised by a pipe barrier every step."""

    def __init__(
        self,
        n_envs: int,
        red_agent: str,
        workflow: tuple[int, ...],
        alignment_lambda: float,
        seed: int,
        params: SimParams | None = None,
        start_method: str = "fork",
    ) -> None:
        self.n_envs = n_envs
        self.alignment_lambda = alignment_lambda
        self.rank = rank_of_type(workflow)
        self.fresh = False  # reset and not stepped since (as NetDefenseVectorEnv.fresh)
        self.shm = SharedMemory(name=f"{SHM_PREFIX}{secrets.token_hex(6)}", create=True, size=_block_size(n_envs))
        self.obs, self.reward, self.done = _views(self.shm.buf, n_envs)
        context = mp.get_context(start_method)
        self.conns: list[Connection] = []
        self.processes: list[mp.process.BaseProcess] = []
        self._finalizer = weakref.finalize(self, _release, self.shm, self.conns, self.processes)
        params = params or SimParams()
        for index in range(n_envs):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker,
                args=(index, child, self.shm.name, n_envs, red_agent, workflow, params, _worker_seed(seed, index)),
                daemon=True,
                name=f"workflow_rl-env-{index}",
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)
        # Every worker has mapped the block once this barrier passes: unlink the name now, so that no kill of
        # any process from here on can leave a segment in /dev/shm (the mappings live until each process exits).
        self._gather()
        self.shm.unlink()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _broadcast(self, command: str, arguments: list | None = None) -> list:
        for index, conn in enumerate(self.conns):
            try:
                conn.send((command, None if arguments is None else arguments[index]))
            except OSError:  # the worker died since the last barrier (BrokenPipeError, ConnectionResetError)
                self._fail_dead(index)
        return self._gather()

    def _gather(self) -> list:
        """Barrier: one reply from every worker, or a clear error if any worker died."""
        replies: dict[int, object] = {}
        by_conn = {conn: index for index, conn in enumerate(self.conns)}
        by_sentinel = {process.sentinel: index for index, process in enumerate(self.processes)}
        while len(replies) < self.n_envs:
            pending = [c for c, i in by_conn.items() if i not in replies]
            ready = wait(pending + list(by_sentinel), timeout=ACK_TIMEOUT_S)
            if not ready:
                self._fail(f"no reply from {len(pending)} worker(s) within {ACK_TIMEOUT_S:.0f} s")
            for item in ready:
                if item in by_conn:
                    try:
                        replies[by_conn[item]] = item.recv()
                    except (EOFError, OSError):
                        self._fail_dead(by_conn[item])
                elif not self.processes[by_sentinel[item]].is_alive():
                    self._fail_dead(by_sentinel[item])
        return [replies[i] for i in range(self.n_envs)]

    def _fail_dead(self, index: int) -> None:
        process = self.processes[index]
        process.join(timeout=1.0)
        self._fail(f"env worker {index} (pid {process.pid}) died with exit code {process.exitcode}")

    def _fail(self, message: str) -> None:
        self.close()
        raise WorkerDiedError(
            f"{message}; stopped the other {self.n_envs - 1} workers and released the shared memory. "
            "Rerun the same command to resume from the last checkpoint."
        )

    def set_workflow(self, workflow: tuple[int, ...]) -> None:
        self.rank = rank_of_type(workflow)
        self._broadcast("workflow", [workflow] * self.n_envs)

    def reset(self) -> tuple[np.ndarray, dict]:
        self._broadcast("reset")
        self.fresh = True
        return self.obs.copy(), {}

    def observe(self) -> np.ndarray:
        return self.obs.copy()

    def rng_state(self) -> dict[str, Any]:
        """Every worker's simulator RNG state just before its latest reset: what a checkpoint stores."""
        return {"workers": self._broadcast("rng_state")}

    def restore_rng_state(self, state: dict[str, Any]) -> None:
        """Rewind every worker to ``rng_state()``'s state: the next reset replays the checkpointed one."""
        workers = state.get("workers")
        if not isinstance(workers, list) or len(workers) != self.n_envs or not all(map(_valid_rng, workers)):
            # Checked here, so that a bad state is one error line, not a dead worker.
            raise CheckpointError(f"the checkpoint's simulator state is not one for {self.n_envs} env workers")
        self._broadcast("restore_rng_state", workers)
        self.fresh = False

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``gymnasium.vector.VectorEnv.step``'s tuple, autoresetting on the same step (every env ends together)."""
        kind, host = decode_actions(actions)
        is_fix = (kind == 2) | (kind == 3)
        compromised = np.stack(self._broadcast("true_state"))
        compliant = fix_compliance(compromised, HOST_TYPES, host, is_fix, self.rank)
        alignment = alignment_reward(
            compliant, is_fix, compromised[np.arange(self.n_envs), host], self.alignment_lambda
        )
        self._broadcast("step", [int(a) for a in actions])
        env_reward = self.reward.copy()
        info = {"env_reward": env_reward, "alignment": alignment, "fix": is_fix, "compliant": compliant}
        obs, truncated = self.obs.copy(), self.done.copy()
        self.fresh = False
        if truncated.all():
            info["final_obs"] = obs
            obs = self.reset()[0]
        return obs, env_reward + alignment, np.zeros(self.n_envs, dtype=bool), truncated, info

    def close(self) -> None:
        if self._finalizer.alive:
            del self.obs, self.reward, self.done
            self._finalizer()


def _valid_rng(state: Any) -> bool:
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError):
        return False
    return True


def _worker_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _release(shm: SharedMemory, conns: list[Connection], processes: list) -> None:
    """Stop every worker and unlink the shared memory (also runs at garbage collection and exit)."""
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("close", None))
    for process in processes:
        process.join(timeout=2.0)
        if process.is_alive():
            process.terminate()
            process.join(timeout=2.0)
    for conn in conns:
        conn.close()
    # A numpy view may still hold the buffer; unlinking below frees the segment all the same.
    with contextlib.suppress(BufferError):
        shm.close()
    with contextlib.suppress(FileNotFoundError):
        shm.unlink()
