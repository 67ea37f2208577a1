"""The training loop: one workflow's PPO training, read top to bottom (rollout, episode ends, update).

Both trainers run this code. The environment is a ``gymnasium.vector.VectorEnv``-style engine: the fast
trainer's ``NetDefenseVectorEnv`` (all N envs as arrays) or the original's ``SharedMemoryEngine`` (one
process per env). Both autoreset on the step that ends an episode, and every env ends on the same step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainkit import EarlyStopping
from workflow_rl.agents import ActorCritic
from workflow_rl.config import TrainConfig
from workflow_rl.ppo import PPOConfig, compute_gae, ppo_loss, ppo_update
from workflow_rl.search import WorkflowResult
from workflow_rl.shm_engine import SharedMemoryEngine
from workflow_rl.sim import EPISODE_STEPS, OBS_DIM, NetDefenseSim, NetDefenseVectorEnv, SimParams
from workflow_rl.timing import CpuStopwatch
from workflow_rl.workflows import episode_compliance, workflow_name

__all__ = ["WorkflowRun", "evaluate_agent", "make_engine", "train_workflow"]


def make_engine(config: TrainConfig, workflow: tuple[int, ...], seed: int) -> NetDefenseVectorEnv | SharedMemoryEngine:
    if config.engine == "shared_memory":
        return SharedMemoryEngine(
            config.n_envs, config.red_agent, workflow, config.alignment_lambda, seed, start_method=config.start_method
        )
    return NetDefenseVectorEnv(
        config.n_envs,
        red_agent=config.red_agent,
        workflow=workflow,
        alignment_lambda=config.alignment_lambda,
        params=SimParams(),
        seed=seed,
    )


def evaluate_agent(
    agent: ActorCritic, red_agent: str, workflow: tuple[int, ...], episodes: int, seed: int, device: torch.device
) -> dict[str, float]:
    """Play ``episodes`` fresh episodes with the stochastic policy on the batched simulator."""
    sim = NetDefenseSim(episodes, red_agent, workflow, seed=seed)
    obs = sim.reset()
    returns, fixes, compliant = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes)
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    with torch.inference_mode():
        for _ in range(EPISODE_STEPS):
            actions, _, _ = agent.act(torch.as_tensor(obs, device=device))
            obs, _, _, info = sim.step(actions.cpu().numpy())
            returns += info["env_reward"]
            fixes += info["fix"]
            compliant += info["compliant"]
    torch.set_rng_state(generator_state)
    compliance = episode_compliance(compliant, fixes)
    return {
        "return": float(returns.mean()),
        "compliance": float(np.nanmean(compliance)) if np.isfinite(compliance).any() else math.nan,
    }


@dataclass
class WorkflowRun:
    """What one workflow's training works on and reports to.

    In process these are the trainer's live objects; an isolated trial (another process, e.g. a Ray Tune
    trial) rebuilds them from a ``TrialState`` and collects the episode rows instead of logging them.
    """

    config: TrainConfig
    agent: ActorCritic
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    engine: Any  # NetDefenseVectorEnv or SharedMemoryEngine
    device: torch.device
    progress: dict[str, Any]
    stopper: EarlyStopping
    stopwatch: CpuStopwatch
    log_episodes: Callable[[list[dict[str, Any]], float], None]  # a finished batch's rows and mean env return
    at_episode_boundary: Callable[[], None] = lambda: None  # where the in-process trainer may checkpoint
    loss_fn: Callable[..., Any] = ppo_loss  # or its torch.compile'd version (--compile)


class _Episodes:
    """Per-env sums of the running episode, and the rows they become when it ends."""

    def __init__(self, n: int) -> None:
        self.env, self.alignment, self.fixes, self.compliant = (np.zeros(n) for _ in range(4))
        self.last_returns: list[float] = []
        self.last_compliance = math.nan

    def add(self, info: dict[str, np.ndarray]) -> None:
        self.env += info["env_reward"]
        self.alignment += info["alignment"]
        self.fixes += info["fix"]
        self.compliant += info["compliant"]

    def finish(self, workflow: tuple[int, ...], progress: dict[str, Any]) -> list[dict[str, Any]]:
        compliance = episode_compliance(self.compliant, self.fixes)
        rows = [
            {
                "episode": progress["episodes"] + i,
                "workflow": workflow_name(workflow),
                "env_return": round(float(self.env[i]), 3),
                "alignment_return": round(float(self.alignment[i]), 3),
                "fixes": int(self.fixes[i]),
                "compliance": "" if math.isnan(compliance[i]) else round(float(compliance[i]), 4),
                "update": progress["updates"],
                **progress["ppo"],
            }
            for i in range(len(self.env))
        ]
        self.last_returns = self.env.tolist()
        self.last_compliance = float(np.nanmean(compliance)) if np.isfinite(compliance).any() else math.nan
        for total in (self.env, self.alignment, self.fixes, self.compliant):
            total[:] = 0
        return rows


def _first_obs(engine: Any) -> np.ndarray:
    # An engine that ended the last workflow's episode is already reset: stepping on from it keeps the RNG
    # stream identical whether or not the run was resumed at this workflow boundary (a resumed engine is not
    # fresh: it replays the checkpointed reset).
    return engine.observe() if engine.fresh else engine.reset()[0]


def train_workflow(workflow: tuple[int, ...], run: WorkflowRun) -> WorkflowResult:
    """Train ``run.agent`` on one workflow until its episode cap, the run's budget or early stopping."""
    config, agent, engine, progress, stopwatch = run.config, run.agent, run.engine, run.progress, run.stopwatch
    ppo = PPOConfig(lr=config.lr, mixed_precision=config.mixed_precision)
    n, horizon = config.n_envs, config.update_steps
    buffers = {
        "obs": np.zeros((horizon, n, OBS_DIM), dtype=np.float32),
        "actions": np.zeros((horizon, n), dtype=np.int64),
        "logprobs": np.zeros((horizon, n), dtype=np.float32),
        "values": np.zeros((horizon, n), dtype=np.float32),
        "rewards": np.zeros((horizon, n), dtype=np.float32),
        "dones": np.zeros((horizon, n), dtype=np.float32),
    }
    episodes = _Episodes(n)
    threshold_met = False
    obs = _first_obs(engine)
    while progress["workflow_episodes"] < config.max_episodes and progress["episodes"] < config.total_episodes:
        # ---- rollout: update_steps steps of every env ----
        for t in range(horizon):
            with stopwatch.section("inference"), torch.inference_mode():
                action, logprob, value = agent.act(torch.as_tensor(obs, device=run.device))
                actions = action.cpu().numpy()
            with stopwatch.section("env_step"):
                next_obs, reward, terminated, truncated, info = engine.step(actions)
            done = terminated | truncated
            buffers["obs"][t], buffers["actions"][t] = obs, actions
            buffers["logprobs"][t], buffers["values"][t] = logprob.cpu().numpy(), value.cpu().numpy()
            buffers["rewards"][t], buffers["dones"][t] = reward * config.reward_scale, done
            episodes.add(info)
            obs = next_obs  # on the last step of an episode: already the next episode's first (autoreset)
            if done.all():  # the fixed horizon ends every env on the same step
                with stopwatch.section("logging"):
                    rows = episodes.finish(workflow, progress)
                    run.log_episodes(rows, float(np.mean(episodes.last_returns)))
                progress["episodes"] += n
                progress["workflow_episodes"] += n

        # ---- PPO update, bootstrapping V where the rollout cuts an episode ----
        with stopwatch.section("update"):
            stats = _update(run, ppo, buffers, obs)
        progress["updates"] += 1
        progress["ppo"] = {name: round(value, 6) for name, value in stats.items()}

        # ---- at an episode boundary: compliance-based early stop, checkpoint ----
        if progress["updates"] * horizon % EPISODE_STEPS == 0:
            compliance = episodes.last_compliance
            if (
                config.compliance_threshold is not None
                and math.isfinite(compliance)
                and progress["workflow_episodes"] >= config.min_episodes
            ):
                threshold_met = compliance >= config.compliance_threshold
                if threshold_met or (config.patience > 0 and run.stopper.should_stop(compliance)):
                    break
            run.at_episode_boundary()
    return WorkflowResult(
        workflow=workflow,
        env_return=float(np.mean(episodes.last_returns)) if episodes.last_returns else math.nan,
        compliance=episodes.last_compliance,
        episodes=progress["workflow_episodes"],
        threshold_met=bool(threshold_met),
    )


def _update(run: WorkflowRun, ppo: PPOConfig, buffers: dict[str, np.ndarray], obs: np.ndarray) -> dict[str, float]:
    with torch.inference_mode():
        last_value = run.agent.value(torch.as_tensor(obs, device=run.device)).cpu().numpy()
    advantages, returns = compute_gae(
        buffers["rewards"], buffers["values"], buffers["dones"], last_value, ppo.gamma, ppo.gae_lambda
    )

    def flat(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array.reshape(-1, *array.shape[2:]), device=run.device)

    return ppo_update(
        run.agent,
        run.optimizer,
        flat(buffers["obs"]),
        flat(buffers["actions"]),
        flat(buffers["logprobs"]),
        flat(advantages),
        flat(returns),
        ppo,
        run.generator,
        run.loss_fn,
        closed_form=run.config.fused_forward and not run.config.compile,
    )
