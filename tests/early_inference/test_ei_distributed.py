"""Simulation as Ray tasks (`nox -s distributed`): byte-identical to the local backend for the same seed."""

from __future__ import annotations

import pytest
from early_inference.generate_early_inference_data import dataset_path, generate_dataset, save_dataset

pytestmark = pytest.mark.distributed
ray = pytest.importorskip("ray")

CONFIG = {"n_train": 40, "n_val": 12, "n_test": 12, "prefix_lengths": [30, 60], "seed": 5}


@pytest.fixture(scope="module", autouse=True)
def ray_shutdown_after_module():
    yield
    ray.shutdown()


def test_ray_backend_writes_the_same_bytes_as_the_local_backend(tmp_path):
    local = save_dataset(generate_dataset(CONFIG, n_workers=2, chunk_size=7), tmp_path / "local" / "d.npz")
    remote = generate_dataset(CONFIG, n_workers=2, chunk_size=7, backend="ray")
    on_ray = save_dataset(remote, tmp_path / "ray" / "d.npz")
    assert local.read_bytes() == on_ray.read_bytes()
    assert dataset_path(tmp_path, CONFIG).name.startswith("urea_")
