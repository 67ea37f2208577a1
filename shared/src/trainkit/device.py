"""Device selection that uses a GPU when asked and present, and never requires one."""

from __future__ import annotations

import torch

from trainkit.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; ``"cuda"`` without a GPU is a clear error."""
    if isinstance(name, torch.device):
        return name
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is available here; use --device auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name}: not a device torch knows (try auto, cpu or cuda)") from exc
