"""The GP-UCB search's trials as Ray Tune trials (``train --backend ray``).

Each workflow's training is one Tune trial (``tune.Tuner`` over ``tune.grid_search`` of the workflows,
one CPU each). The trial is the trainer's :class:`~workflow_rl.trial.IsolatedTrial`: it carries its
whole starting state (weights, optimizer, RNG states) through the object store (``tune.with_parameters``)
and reports its end state as a Tune checkpoint, which the trainer applies. The search itself
(``GPUCBSearch``, inheritance, early stopping, checkpoints) is the trainer's, unchanged. Import this
module only after :func:`workflow_rl.distributed.require_ray`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ray import tune

from trainkit import load_checkpoint, save_checkpoint
from workflow_rl.search import WorkflowResult
from workflow_rl.trial import IsolatedTrial, TrialOutcome, TrialState
from workflow_rl.workflows import workflow_name

__all__ = ["RayTuneBackend"]

OUTCOME_FILE = "outcome.pt"


def _outcome_to_dict(outcome: TrialOutcome) -> dict[str, Any]:
    return {
        "result": {**asdict(outcome.result), "workflow": list(outcome.result.workflow)},
        "state": asdict(outcome.state),
        "batches": [[rows, mean_return] for rows, mean_return in outcome.batches],
        "time_split": outcome.time_split,
    }


def _outcome_from_dict(data: dict[str, Any]) -> TrialOutcome:
    return TrialOutcome(
        result=WorkflowResult(**{**data["result"], "workflow": tuple(data["result"]["workflow"])}),
        state=TrialState(**data["state"]),
        batches=[(rows, mean_return) for rows, mean_return in data["batches"]],
        time_split=data["time_split"],
    )


def _workflow_trainable(config: dict[str, Any], trial: IsolatedTrial) -> None:
    """The Tune function trainable: train one workflow, report its result and its end state."""
    outcome = trial(tuple(config["workflow"]))
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(Path(folder) / OUTCOME_FILE, _outcome_to_dict(outcome))
        result = outcome.result
        tune.report(
            {"env_return": result.env_return, "compliance": result.compliance, "episodes": result.episodes},
            checkpoint=tune.Checkpoint.from_directory(folder),
        )


class RayTuneBackend:
    """Runs each workflow's training as a Ray Tune trial with ``cpus_per_trial`` CPUs.

    ``storage_path`` is where Tune persists trial results; on a multi-node cluster it must be reachable
    from every node (a shared folder or a cloud URI). None: a temporary folder on this machine, removed
    once the results are read.
    """

    isolated = True

    def __init__(self, cpus_per_trial: float = 1.0, storage_path: str | None = None) -> None:
        self.cpus_per_trial = cpus_per_trial
        self.storage_path = storage_path

    def run_trials(
        self, train: Callable[[tuple[int, ...]], TrialOutcome], workflows: Sequence[tuple[int, ...]]
    ) -> list[TrialOutcome]:
        if self.storage_path is not None:
            return self._fit(train, workflows, self.storage_path)
        with tempfile.TemporaryDirectory(prefix="workflow_rl_tune_") as storage:
            return self._fit(train, workflows, storage)

    def _fit(
        self, train: Callable[[tuple[int, ...]], TrialOutcome], workflows: Sequence[tuple[int, ...]], storage: str
    ) -> list[TrialOutcome]:
        trainable = tune.with_parameters(_workflow_trainable, trial=train)
        trainable = tune.with_resources(trainable, {"cpu": self.cpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={"workflow": tune.grid_search([list(w) for w in workflows])},
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        results = tuner.fit()
        outcomes: dict[tuple[int, ...], TrialOutcome] = {}
        for result in results:
            workflow = tuple(result.config["workflow"])
            if result.error is not None:
                raise RuntimeError(f"the Ray Tune trial for {workflow_name(workflow)} failed: {result.error}")
            with result.checkpoint.as_directory() as folder:
                outcomes[workflow] = _outcome_from_dict(load_checkpoint(Path(folder) / OUTCOME_FILE))
        return [outcomes[tuple(w)] for w in workflows]
