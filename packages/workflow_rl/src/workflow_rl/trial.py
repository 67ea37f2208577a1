"""Trial state: everything one workflow's training reads and changes, so that it can run in another process.

A remote backend (Ray Tune) receives an :class:`IsolatedTrial`, rebuilds the agent, optimizer, RNGs and
simulator from its :class:`TrialState`, runs the same :func:`~workflow_rl.loop.train_workflow` as in process,
and returns a :class:`TrialOutcome` that the trainer applies, so a search gives the same workflows and
returns as with the in-process backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from trainkit import EarlyStopping, resolve_device
from workflow_rl.agents import make_agent
from workflow_rl.config import TrainConfig
from workflow_rl.loop import WorkflowRun, make_engine, train_workflow
from workflow_rl.ppo import make_optimizer
from workflow_rl.search import WorkflowResult
from workflow_rl.sim import N_ACTIONS, OBS_DIM
from workflow_rl.timing import CpuStopwatch

__all__ = ["IsolatedTrial", "TrialOutcome", "TrialState", "new_stopper"]


def new_stopper(config: TrainConfig) -> EarlyStopping:
    return EarlyStopping("compliance", patience=config.patience, mode="max", min_delta=0.005)


@dataclass
class TrialState:
    """A workflow's training state on the CPU."""

    agent: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    generator: torch.Tensor
    torch_rng: torch.Tensor  # the global generator: the policy samples actions from it
    env_rng: dict[str, Any]  # the engine's simulator RNG state at its latest reset (engine.rng_state())
    progress: dict[str, Any]
    stopper: dict[str, Any] | None

    @classmethod
    def capture(cls, run: WorkflowRun) -> TrialState:
        return cls(
            agent=_to_cpu(run.agent.state_dict()),
            optimizer=_to_cpu(run.optimizer.state_dict()),
            generator=run.generator.get_state(),
            torch_rng=torch.get_rng_state(),
            env_rng=run.engine.rng_state(),
            progress=dict(run.progress),
            stopper=run.stopper.state_dict(),
        )

    def restore(self, run: WorkflowRun) -> None:
        run.agent.load_state_dict(self.agent)
        run.optimizer.load_state_dict(self.optimizer)
        run.generator.set_state(self.generator)
        torch.set_rng_state(self.torch_rng)
        # Rewind to the latest reset and let the next workflow's training replay it.
        run.engine.restore_rng_state(self.env_rng)
        run.progress.update(self.progress)
        if self.stopper is not None:
            run.stopper.load_state_dict(self.stopper)


@dataclass
class TrialOutcome:
    """An isolated trial's result, its end state and what it would have logged."""

    result: WorkflowResult
    state: TrialState
    batches: list[tuple[list[dict[str, Any]], float]]  # (episode rows, mean env return) per finished batch
    time_split: dict[str, float]  # wall seconds per section


@dataclass
class IsolatedTrial:
    """One workflow's training that needs nothing from the trainer's process: picklable, for remote backends."""

    config: TrainConfig
    state: TrialState

    def __call__(self, workflow: tuple[int, ...]) -> TrialOutcome:
        config = self.config
        torch.set_num_threads(config.torch_threads)
        device = resolve_device(config.device)
        agent = make_agent(OBS_DIM, N_ACTIONS, config.fused_forward).to(device)
        batches: list[tuple[list[dict[str, Any]], float]] = []
        run = WorkflowRun(
            config=config,
            agent=agent,
            optimizer=make_optimizer(agent, config.lr, config.fused_adam),
            generator=torch.Generator(),
            engine=make_engine(config, workflow, seed=0),
            device=device,
            progress={},
            stopper=new_stopper(config),
            stopwatch=CpuStopwatch(),
            log_episodes=lambda rows, mean_return: batches.append((rows, mean_return)),
        )
        self.state.restore(run)
        result = train_workflow(workflow, run)
        return TrialOutcome(result, TrialState.capture(run), batches, run.stopwatch.totals())


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    return value
