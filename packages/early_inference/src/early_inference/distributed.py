"""Trajectory simulation as Ray tasks, on this machine or a cluster.

Ray is the optional extra ``pip install 'early_inference[distributed]'`` (the pattern of ppo_trading and
workflow_rl). With no address, ``ray.init()`` starts a local Ray (or joins the one named by
``RAY_ADDRESS``); ``--ray-address auto`` joins a cluster started with ``ray start --head``. Each chunk's
random streams depend only on (seed, split, index), so the result equals the local backend's bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from trainkit import ray_support

__all__ = ["INSTALL_HINT", "connect", "require_ray", "simulate_on_ray"]

INSTALL_HINT = "pip install 'early_inference[distributed]'"


def require_ray() -> ModuleType:
    """The ``ray`` module, or a one-line ConfigError that says how to install it."""
    return ray_support.require_ray(INSTALL_HINT)


def connect(address: str | None) -> ModuleType:
    """Initialise Ray once per process: a local Ray for ``None``, else the cluster at ``address``."""
    return ray_support.connect(address, INSTALL_HINT)


def simulate_on_ray(
    simulate: Callable[[Any], Any], chunks: Sequence[Any], address: str | None, workers: int | None
) -> Iterator[Any]:
    """``simulate(chunk)`` for every chunk as a Ray task (1 CPU each), at most ``workers`` in flight;
    results are yielded in chunk order."""
    ray = connect(address)
    task = ray.remote(num_cpus=1)(simulate)
    limit = workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
    pending = [task.remote(chunk) for chunk in chunks[:limit]]
    submitted = len(pending)
    while pending:
        result = ray.get(pending.pop(0))
        if submitted < len(chunks):
            pending.append(task.remote(chunks[submitted]))
            submitted += 1
        yield result
