"""GP-UCB over the 120 workflows with a Kendall-tau (Mallows) kernel, and policy inheritance.

The GP (scikit-learn ``GaussianProcessRegressor``) models a workflow's final env return from its
rank vector; the next workflow maximises mean + sqrt(beta) * std over the untried ones. Only
workflows that met the compliance threshold update the GP (compliance-gated, as the original did).
Trials run through a ``backend``: ``LocalBackend`` here, ``tune_backend.RayTuneBackend`` as Ray Tune trials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel, WhiteKernel

from workflow_rl.workflows import ALL_WORKFLOWS, discordant_fraction, kendall_distance, rank_of_type

__all__ = ["GPUCBSearch", "KendallKernel", "LocalBackend", "SearchBackend", "WorkflowResult"]


class KendallKernel(Kernel):
    """k(a, b) = exp(-d_K(a, b) / length_scale): the Mallows kernel, positive definite on permutations."""

    def __init__(self, length_scale: float = 0.3) -> None:
        self.length_scale = length_scale

    @property
    def hyperparameter_length_scale(self) -> Hyperparameter:
        return Hyperparameter("length_scale", "numeric", "fixed")

    def __call__(self, X, Y=None, eval_gradient: bool = False):
        X = np.asarray(X, dtype=float)
        Y = X if Y is None else np.asarray(Y, dtype=float)
        K = np.exp(-discordant_fraction(X, Y) / self.length_scale)
        return (K, np.empty((len(X), len(X), 0))) if eval_gradient else K

    def diag(self, X) -> np.ndarray:
        return np.ones(len(X))

    def is_stationary(self) -> bool:
        return True


@dataclass
class WorkflowResult:
    workflow: tuple[int, ...]
    env_return: float
    compliance: float
    episodes: int
    threshold_met: bool


Outcome = TypeVar("Outcome")


class SearchBackend(Protocol):
    """Runs one trial per workflow and returns their outcomes in the workflows' order.

    ``isolated`` backends run trials in other processes: the trainer then hands them a picklable trial
    that carries its whole starting state (``trainer.IsolatedTrial``) and applies what it returns.
    """

    isolated: bool

    def run_trials(
        self, train: Callable[[tuple[int, ...]], Outcome], workflows: Sequence[tuple[int, ...]]
    ) -> list[Outcome]: ...


class LocalBackend:
    """Runs trials one after another in this process (so policy inheritance sees every finished one).

    ``isolated=True`` runs the self-contained trials a remote backend gets, still in this process: the
    same results as the default, without Ray (the tests use it to check that trials carry all their state).
    """

    def __init__(self, isolated: bool = False) -> None:
        self.isolated = isolated

    def run_trials(
        self, train: Callable[[tuple[int, ...]], Outcome], workflows: Sequence[tuple[int, ...]]
    ) -> list[Outcome]:
        return [train(workflow) for workflow in workflows]


class GPUCBSearch:
    """Propose workflows by GP-UCB; remember results for inheritance and checkpoints."""

    def __init__(self, beta: float = 2.0, seed: int = 0, candidates: Sequence[tuple[int, ...]] = ALL_WORKFLOWS):
        self.beta = beta
        self.seed = seed
        self.candidates = [tuple(c) for c in candidates]
        self.results: list[WorkflowResult] = []

    def propose(self) -> tuple[int, ...] | None:
        tried = {r.workflow for r in self.results}
        untried = [c for c in self.candidates if c not in tried]
        if not untried:
            return None
        gated = [r for r in self.results if r.threshold_met]
        if not gated:
            return untried[np.random.default_rng([self.seed, len(self.results)]).integers(len(untried))]
        X = np.array([rank_of_type(r.workflow) for r in gated])
        y = np.array([r.env_return for r in gated])
        gp = GaussianProcessRegressor(KendallKernel() + WhiteKernel(0.1, "fixed"), optimizer=None, normalize_y=True)
        gp.fit(X, y)
        mean, std = gp.predict(np.array([rank_of_type(c) for c in untried]), return_std=True)
        return untried[int(np.argmax(mean + np.sqrt(self.beta) * std))]

    def observe(self, result: WorkflowResult) -> None:
        self.results.append(result)

    def nearest_trained(self, workflow: tuple[int, ...]) -> tuple[int, ...] | None:
        """The trained workflow closest in Kendall distance (the newest wins ties)."""
        if not self.results:
            return None
        distances = [kendall_distance(workflow, r.workflow) for r in self.results]
        best = min(range(len(distances)), key=lambda i: (distances[i], -i))
        return self.results[best].workflow

    def best(self) -> WorkflowResult | None:
        gated = [r for r in self.results if r.threshold_met] or self.results
        return max(gated, key=lambda r: r.env_return) if gated else None

    def state_dict(self) -> dict[str, Any]:
        return {"results": [{**asdict(r), "workflow": list(r.workflow)} for r in self.results]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.results = [WorkflowResult(**{**r, "workflow": tuple(r["workflow"])}) for r in state["results"]]
