"""Ray as an optional extra: a one-line error when it is missing, and joining or starting a Ray once.

Nothing here imports Ray at module level, so base installs import this module freely.
"""

from __future__ import annotations

from types import ModuleType

from trainkit.errors import ConfigError

__all__ = ["connect", "require_ray"]


def require_ray(install_hint: str) -> ModuleType:
    """The ``ray`` module, or a one-line ConfigError that names ``install_hint``."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--backend ray needs Ray, which is not installed: {install_hint}") from None
    return ray


def connect(address: str | None, install_hint: str) -> ModuleType:
    """Initialise Ray once per process: Ray's own rule for ``None`` (``RAY_ADDRESS``, a cluster on this node,
    else a new local Ray), else the cluster at ``address``."""
    ray = require_ray(install_hint)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
    except ConnectionError as error:
        raise ConfigError(
            f"no Ray cluster at {address!r} ({error}); start one with `ray start --head` or drop --ray-address"
        ) from None
    return ray
