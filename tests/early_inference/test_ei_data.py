"""Datasets: adaptive points, deterministic generation, config-hash cache, rejection of bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from early_inference.generate_early_inference_data import (
    dataset_path,
    generate_dataset,
    get_adaptive_prefix_n_points,
    load_dataset,
    load_or_generate,
    save_dataset,
)

from trainkit import ConfigError, DataError

SMALL = {"n_train": 12, "n_val": 4, "n_test": 4, "prefix_lengths": [30, 300], "prefix_n_points": 20}


def test_adaptive_prefix_points_match_the_design_document():
    assert [get_adaptive_prefix_n_points(length) for length in (30, 60, 300)] == [100, 200, 1000]
    with pytest.raises(ConfigError):
        get_adaptive_prefix_n_points(0)


def test_adaptive_points_are_off_by_default_and_change_shapes_when_on():
    data = generate_dataset(SMALL, n_workers=1)
    assert {length: data.obs["train"][length].shape[1] for length in (30, 300)} == {30: 20, 300: 20}
    adaptive = generate_dataset({**SMALL, "use_adaptive_n_points": True}, n_workers=1)
    assert adaptive.obs["train"][300].shape == (12, 1000)
    assert adaptive.times[30][1] - adaptive.times[30][0] == pytest.approx(30 / 99)


def test_generation_is_deterministic_for_a_seed_and_independent_of_workers():
    serial = generate_dataset(SMALL, n_workers=1)
    pooled = generate_dataset(SMALL, n_workers=2, chunk_size=5)
    other_seed = generate_dataset({**SMALL, "seed": 1}, n_workers=1)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(serial.params[split], pooled.params[split])
        np.testing.assert_array_equal(serial.obs[split][300], pooled.obs[split][300])
    assert not np.array_equal(serial.params["train"], other_seed.params["train"])
    assert not np.array_equal(serial.params["train"], serial.params["test"])


def test_measurement_noise_is_added_on_the_prefix_grid():
    data = generate_dataset({**SMALL, "n_train": 150, "prefix_lengths": [30]}, n_workers=1)
    start_error = data.obs["train"][30][:, 0] - data.known["train"][:, 2]  # pH at t = 0 is the known pH0
    assert abs(start_error.mean()) < 0.004
    assert start_error.std() == pytest.approx(0.01, rel=0.25)


def test_cache_by_config_hash_and_rejects_a_file_from_another_config(tmp_path):
    data, path = load_or_generate(SMALL, tmp_path, n_workers=1)
    assert path == dataset_path(tmp_path, SMALL) and path.is_file()
    again, same_path = load_or_generate(SMALL, tmp_path, n_workers=1)
    assert same_path == path
    np.testing.assert_array_equal(again.obs["val"][30], data.obs["val"][30])
    assert dataset_path(tmp_path, {**SMALL, "seed": 3}) != path
    with pytest.raises(DataError, match=r"different config \(differs in \['n_train'\]\)"):
        load_dataset(path, expected_config={**SMALL, "n_train": 99})


def test_nan_inputs_are_rejected_at_load_time(tmp_path):
    data = generate_dataset(SMALL, n_workers=1)
    data.obs["train"][30][3, 5] = np.nan
    path = save_dataset(data, tmp_path / "bad.npz")
    with pytest.raises(DataError, match="train_obs_30 holds 1 NaN"):
        load_dataset(path)


def test_corrupt_or_foreign_files_are_data_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="not an early_inference dataset"):
        load_dataset(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(DataError, match="not an early_inference dataset"):
        load_dataset(foreign)
    with pytest.raises(DataError, match="no such dataset"):
        load_dataset(tmp_path / "missing.npz")


def test_saved_config_is_readable_json(tmp_path):
    data = generate_dataset(SMALL, n_workers=1)
    path = save_dataset(data, tmp_path / "d.npz")
    with np.load(path) as npz:
        assert json.loads(str(npz["config_json"]))["prefix_lengths"] == [30, 300]


def test_impossible_configs_are_config_errors():
    with pytest.raises(ConfigError):
        generate_dataset({**SMALL, "n_train": 0})
    with pytest.raises(ConfigError):
        generate_dataset({**SMALL, "prefix_lengths": [-5]})
    with pytest.raises(ConfigError):
        generate_dataset({**SMALL, "bogus": 1})


def test_saved_files_are_byte_identical_for_the_same_seed_whatever_the_workers(tmp_path):
    """The .npz carries no timestamps, so equal data means equal bytes (what the Ray test relies on)."""
    config = {"n_train": 12, "n_val": 4, "n_test": 4, "prefix_lengths": [30], "seed": 3}
    one = save_dataset(generate_dataset(config, n_workers=1, chunk_size=5), tmp_path / "a.npz")
    two = save_dataset(generate_dataset(config, n_workers=2, chunk_size=3), tmp_path / "b.npz")
    assert one.read_bytes() == two.read_bytes()
    other = save_dataset(generate_dataset({**config, "seed": 4}, n_workers=1), tmp_path / "c.npz")
    assert other.read_bytes() != one.read_bytes()


def test_a_pickled_object_array_in_a_dataset_is_refused_unexecuted(tmp_path):
    """np.load runs with allow_pickle=False: a planted object array is a DataError, never unpickled."""
    config = {"n_train": 4, "n_val": 2, "n_test": 2, "prefix_lengths": [30]}
    path = save_dataset(generate_dataset(config, n_workers=1), tmp_path / "d.npz")
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["train_params"] = np.array([Payload(str(tmp_path / "payload_ran"))], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(DataError):
        load_dataset(path)
    assert not (tmp_path / "payload_ran").exists()


class Payload:
    """Unpickling it would create ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))
