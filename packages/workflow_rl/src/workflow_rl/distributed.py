"""What the Ray paths share: the missing-extra error and joining or starting a Ray cluster.

Nothing here imports Ray at module level, so the base install (without the ``distributed`` extra)
imports this module freely; the Ray paths call :func:`require_ray` before importing their modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trainkit import ConfigError

__all__ = ["RAY_INSTALL_HINT", "missing_ray_error", "ray_session", "require_ray"]

RAY_INSTALL_HINT = "pip install 'workflow_rl[distributed]'"


def missing_ray_error(missing: str) -> ConfigError:
    """The one-line error for a Ray path used without the extra."""
    return ConfigError(f"this command needs Ray ({missing} is not installed): {RAY_INSTALL_HINT}")


def require_ray() -> None:
    """Import Ray, RLlib and Tune, or fail with one line naming the extra."""
    try:
        import ray
        import ray.rllib
        import ray.tune  # noqa: F401
    except ImportError as exc:
        raise missing_ray_error(exc.name or "ray") from exc


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Use the Ray this process already joined, or ``ray.init(address)`` and shut it down afterwards.

    ``address`` None follows Ray's rule: ``RAY_ADDRESS``, else a cluster ``ray start`` runs on this node,
    else a new local Ray; ``"auto"`` joins the cluster ``ray start`` runs on this node, or fails.
    """
    require_ray()
    import ray

    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, include_dashboard=False, logging_level="WARNING")
    except ConnectionError as exc:
        raise ConfigError(
            f"no Ray cluster at {address!r} ({exc}); start one with `ray start --head` or drop --ray-address"
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()
