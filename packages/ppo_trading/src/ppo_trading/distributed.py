"""Candidates as Ray tasks: the same ``train_candidate``, scheduled by Ray on a laptop or a cluster.

Ray is the optional extra ``pip install 'ppo_trading[distributed]'``. With no address, ``ray.init()``
starts a local Ray (or joins the one named by ``RAY_ADDRESS``); ``--ray-address auto`` joins a cluster
started with ``ray start --head``. Model files travel as bytes, not paths, so a candidate can run on a
node that does not share the driver's disk; the driver writes each candidate's best model atomically.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import torch

from ppo_trading.utils.training_utils_optimized import CandidateResult, CandidateSpec, train_candidate
from trainkit import atomic_write, ray_support

__all__ = ["connect", "require_ray", "run_candidates_on_ray"]

INSTALL_HINT = "pip install 'ppo_trading[distributed]'"


def require_ray() -> ModuleType:
    """The ``ray`` module, or a one-line ConfigError that says how to install it."""
    return ray_support.require_ray(INSTALL_HINT)


def connect(address: str | None) -> ModuleType:
    """Initialise Ray once per process: a local Ray for ``None``, else the cluster at ``address``."""
    return ray_support.connect(address, INSTALL_HINT)


def _train_on_worker(spec: CandidateSpec, warm_start: bytes | None) -> tuple[CandidateResult, bytes | None]:
    """Train one candidate in a scratch directory on whichever node Ray chose; return the model as bytes."""
    torch.set_num_threads(1)  # one CPU per task, as Ray reserved it; more threads would oversubscribe
    with tempfile.TemporaryDirectory(prefix="ppo_candidate_") as scratch:
        warm_path = None
        if warm_start is not None:
            warm_path = Path(scratch) / "warm_start.pt"
            warm_path.write_bytes(warm_start)
        best_path = Path(scratch) / "best_model.pt"
        local = dataclasses.replace(
            spec, warm_start_path=None if warm_path is None else str(warm_path), out_path=str(best_path)
        )
        result = train_candidate(local)
        model = best_path.read_bytes() if best_path.exists() else None
    return dataclasses.replace(result, model_path=spec.out_path), model


def run_candidates_on_ray(specs: Sequence[CandidateSpec], workers: int) -> list[CandidateResult]:
    """Train ``specs`` as Ray tasks (1 CPU each), at most ``workers`` in flight; results in spec order."""
    ray = connect(specs[0].config.ray_address)
    task = ray.remote(num_cpus=1)(_train_on_worker)
    warm_paths = {spec.warm_start_path for spec in specs if spec.warm_start_path is not None}
    warm_refs = {path: ray.put(Path(path).read_bytes()) for path in warm_paths}
    results: list[CandidateResult | None] = [None] * len(specs)
    in_flight: dict[object, int] = {}
    queued = list(range(len(specs)))
    while queued or in_flight:
        while queued and len(in_flight) < workers:
            index = queued.pop(0)
            spec = specs[index]
            warm = None if spec.warm_start_path is None else warm_refs[spec.warm_start_path]
            in_flight[task.remote(spec, warm)] = index
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in done:
            index = in_flight.pop(ref)
            result, model = ray.get(ref)
            if model is not None:
                with atomic_write(specs[index].out_path, "wb") as handle:
                    handle.write(model)
            results[index] = result
    return [result for result in results if result is not None]
