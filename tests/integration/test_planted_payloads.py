"""Every file loader listed in SECURITY.md, fed a planted payload: the payload never runs.

Each payload is an object whose unpickling would create a marker file. A loader that unpickles would run it;
ours must refuse the file with a one-line user error instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trainkit import CheckpointError, TrainkitError, load_checkpoint


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_npz(path: Path, marker: Path) -> None:
    """An .npz whose member is a pickled object array: np.load runs it only with allow_pickle=True."""
    np.savez(path, inputs=np.array([Payload(marker)], dtype=object), labels=np.zeros(1))


def test_trainkit_checkpoint(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"trainkit_checkpoint": 2, "state": Payload(marker)}, tmp_path / "c.pt")
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(Payload(marker)))
    for name in ("c.pt", "raw.pt"):
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / name)
    assert not marker.exists()


def test_neuro_gym_task_file(tmp_path):
    from neuro_gym.cli import _load_task_file

    marker = tmp_path / "ran"
    _object_npz(tmp_path / "task.npz", marker)
    with pytest.raises(TrainkitError):
        _load_task_file(tmp_path / "task.npz")
    assert not marker.exists()


def test_early_inference_dataset(tmp_path):
    from early_inference.generate_early_inference_data import load_dataset

    marker = tmp_path / "ran"
    np.savez(tmp_path / "data.npz", config_json=np.array([Payload(marker)], dtype=object))
    with pytest.raises(TrainkitError):
        load_dataset(tmp_path / "data.npz")
    assert not marker.exists()


def test_ppo_trading_feature_cache(tmp_path):
    from ppo_trading.data import generate_synthetic_xauusd
    from ppo_trading.features import FeatureCache, FeatureConfig

    marker = tmp_path / "ran"
    frame = generate_synthetic_xauusd(400, seed=0)
    cache = FeatureCache(tmp_path)
    key = cache.key(frame, FeatureConfig())
    np.save(tmp_path / f"features_{key}.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    FeatureCache._memory.clear()
    features = cache.features(frame, FeatureConfig())  # the planted file is refused and recomputed
    assert features.dtype != object
    assert not marker.exists()
