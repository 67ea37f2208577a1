"""Simulated datasets of noisy prefixes, generated in a process pool and cached as ``.npz`` by config hash.

Every trajectory is simulated once and observed on every prefix grid (``prefix_lengths``), each with
its own measurement noise. A sample's random stream depends only on (seed, split, index), so the
result is identical for any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from early_inference import simulators
from trainkit import ConfigError, DataError, atomic_write, progress_bar
from trainkit.npz import load_npz

__all__ = [
    "CONFIG",
    "SPLITS",
    "EarlyInferenceData",
    "config_hash",
    "dataset_path",
    "generate_dataset",
    "get_adaptive_prefix_n_points",
    "load_dataset",
    "load_or_generate",
    "prefix_times",
    "save_dataset",
]

SPLITS = ("train", "val", "test")

CONFIG: dict[str, Any] = {
    "simulator": "urea",
    "n_train": 16000,
    "n_val": 2000,
    "n_test": 2000,
    "prefix_lengths": [30, 60, 300],  # seconds
    # Points per prefix, spread uniformly over [0, L]. The simulator is evaluated on this grid
    # directly (no interpolation from a coarse grid), so the prefix's information content is set here.
    "prefix_n_points": 100,
    "use_adaptive_n_points": False,  # True: keep dt ~ target_dt, so 30 s -> 100, 60 s -> 200, 300 s -> 1000
    "target_dt": 0.3,  # s
    "seed": 0,
}

MAX_DATASET_BYTES = 4 * 2**30  # checked before simulating: the whole dataset is held in memory

# Keys that change how the data is produced, but not what it is; they stay out of the hash.
_EXECUTION_KEYS = ("n_workers", "chunk_size")


def get_adaptive_prefix_n_points(prefix_length: float, target_dt: float = 0.3, base_n_points: int = 100) -> int:
    """Points for a prefix that keep the spacing near ``target_dt``, rounded to tens, at least ``base_n_points``."""
    if prefix_length <= 0 or target_dt <= 0:
        raise ConfigError(f"prefix_length and target_dt must be positive, got {prefix_length} and {target_dt}")
    wanted = max(base_n_points, int(prefix_length / target_dt))
    return int(round(wanted / 10.0) * 10)


def prefix_n_points(config: Mapping[str, Any], prefix_length: float) -> int:
    if config["use_adaptive_n_points"]:
        return get_adaptive_prefix_n_points(prefix_length, config["target_dt"], config["prefix_n_points"])
    return int(config["prefix_n_points"])


def prefix_times(config: Mapping[str, Any], prefix_length: float) -> np.ndarray:
    return np.linspace(0.0, float(prefix_length), prefix_n_points(config, prefix_length))


def _validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**CONFIG, **{k: v for k, v in config.items() if k not in _EXECUTION_KEYS}}
    unknown = set(merged) - set(CONFIG)
    if unknown:
        raise ConfigError(f"unknown data config keys {sorted(unknown)}")
    simulators.get(merged["simulator"])
    for split in SPLITS:
        if int(merged[f"n_{split}"]) < 1:
            raise ConfigError(f"n_{split} must be >= 1, got {merged[f'n_{split}']}")
    lengths = [float(x) for x in merged["prefix_lengths"]]
    if not lengths or min(lengths) <= 0:
        raise ConfigError(f"prefix_lengths must be positive, got {merged['prefix_lengths']}")
    if int(merged["prefix_n_points"]) < 8:
        raise ConfigError(f"prefix_n_points must be >= 8, got {merged['prefix_n_points']}")
    merged["prefix_lengths"] = [int(x) if float(x).is_integer() else float(x) for x in lengths]
    trajectories = sum(int(merged[f"n_{split}"]) for split in SPLITS)
    points = sum(prefix_n_points(merged, length) for length in lengths)
    size = trajectories * points * 8  # float64 observations, before any is simulated
    if size > MAX_DATASET_BYTES:
        raise ConfigError(
            f"the dataset would hold {size / 2**30:.3g} GiB of observations ({trajectories} trajectories from "
            f"--n-train/--n-val/--n-test x {points} points over --prefix-lengths); at most "
            f"{MAX_DATASET_BYTES / 2**30:g} GiB"
        )
    return merged


def config_hash(config: Mapping[str, Any]) -> str:
    text = json.dumps(_validate_config(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dataset_path(cache_dir: str | os.PathLike[str], config: Mapping[str, Any]) -> Path:
    full = _validate_config(config)
    return Path(cache_dir) / f"{full['simulator']}_{config_hash(full)}.npz"


@dataclass
class EarlyInferenceData:
    """Parameters, known inputs and noisy prefixes per split; ``obs[split][L]`` has shape (n, points)."""

    config: dict[str, Any]
    times: dict[float, np.ndarray]
    params: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    obs: dict[str, dict[float, np.ndarray]]

    @property
    def prefix_lengths(self) -> list[float]:
        return list(self.config["prefix_lengths"])


def _simulate_chunk(args: tuple[dict[str, Any], int, Sequence[int]]):
    config, split_id, indices = args
    sim = simulators.get(config["simulator"])
    lengths = config["prefix_lengths"]
    grids = [prefix_times(config, length) for length in lengths]
    all_times = np.concatenate(grids)
    params, known, obs = [], [], {length: [] for length in lengths}
    for index in indices:
        rng = np.random.default_rng([config["seed"], split_id, index])
        theta = sim.sample_params(rng, 1)[0]
        inputs = sim.sample_known(rng, 1)[0]
        clean = sim.simulate(theta, inputs, all_times)
        start = 0
        for length, grid in zip(lengths, grids):
            piece = clean[start : start + len(grid)]
            obs[length].append(piece + sim.noise_sd * rng.standard_normal(len(grid)))
            start += len(grid)
        params.append(theta)
        known.append(inputs)
    return np.array(params), np.array(known).reshape(len(indices), -1), {k: np.array(v) for k, v in obs.items()}


def _jobs(config: Mapping[str, Any], chunk_size: int) -> list[tuple[str, tuple[dict[str, Any], int, range]]]:
    jobs = []
    for split_id, split in enumerate(SPLITS):
        n = int(config[f"n_{split}"])
        jobs += [(split, (config, split_id, range(i, min(i + chunk_size, n)))) for i in range(0, n, chunk_size)]
    return jobs


def _local_outputs(jobs, n_workers: int):
    if n_workers <= 1 or len(jobs) == 1:
        yield from (_simulate_chunk(args) for _, args in jobs)
        return
    # fork: workers inherit the imported modules instead of re-importing torch.
    context = multiprocessing.get_context("fork") if os.name == "posix" else None
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        yield from pool.map(_simulate_chunk, [args for _, args in jobs])


def generate_dataset(
    config: Mapping[str, Any],
    n_workers: int | None = None,
    chunk_size: int = 250,
    desc: str = "simulate",
    backend: str = "local",
    ray_address: str | None = None,
) -> EarlyInferenceData:
    """Simulate every split: ``backend="local"`` in a process pool (``n_workers``, default all cores),
    ``"ray"`` as Ray tasks (at most ``n_workers`` in flight; the cluster at ``ray_address``)."""
    config = _validate_config(config)
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend must be 'local' or 'ray', got {backend!r}")
    jobs = _jobs(config, chunk_size)
    if backend == "ray":
        from early_inference.distributed import simulate_on_ray

        outputs = simulate_on_ray(_simulate_chunk, [args for _, args in jobs], ray_address, n_workers)
    else:
        outputs = _local_outputs(jobs, n_workers or os.cpu_count() or 1)
    pieces: dict[str, list] = {split: [] for split in SPLITS}
    with progress_bar(total=sum(len(job[1][2]) for job in jobs), desc=desc, unit="traj") as bar:
        for (split, args), out in zip(jobs, outputs):
            pieces[split].append(out)
            bar.update(len(args[2]))
    lengths = config["prefix_lengths"]
    return EarlyInferenceData(
        config=config,
        times={length: prefix_times(config, length) for length in lengths},
        params={s: np.concatenate([p[0] for p in pieces[s]]) for s in SPLITS},
        known={s: np.concatenate([p[1] for p in pieces[s]]) for s in SPLITS},
        obs={s: {length: np.concatenate([p[2][length] for p in pieces[s]]) for length in lengths} for s in SPLITS},
    )


def _key(length: float) -> str:
    return f"{length:g}"


def save_dataset(data: EarlyInferenceData, path: str | os.PathLike[str]) -> Path:
    """Write ``.npz`` (config as JSON inside) through a temp file, so a kill never leaves half a file.

    The zip entries carry a fixed timestamp, so equal data gives byte-identical files (np.savez stamps
    the current time).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"config_json": np.array(json.dumps(data.config, sort_keys=True))}
    for length in data.prefix_lengths:
        arrays[f"times_{_key(length)}"] = data.times[length]
    for split in SPLITS:
        arrays[f"{split}_params"] = data.params[split]
        arrays[f"{split}_known"] = data.known[split]
        for length in data.prefix_lengths:
            arrays[f"{split}_obs_{_key(length)}"] = data.obs[split][length]
    with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(entry, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return path


def load_dataset(path: str | os.PathLike[str], expected_config: Mapping[str, Any] | None = None) -> EarlyInferenceData:
    """Read a dataset; a file from another config, a malformed file or any NaN is a ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such dataset; run `python -m early_inference generate` first")
    try:
        arrays = load_npz(path)
        config = json.loads(str(arrays["config_json"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # EOF: empty; BadZip: truncated
        raise DataError(f"{path}: not an early_inference dataset ({type(exc).__name__}: {exc})") from exc
    except DataError as exc:  # load_npz's own checks: a forged size, an object array, not a zip
        raise DataError(f"{path}: not an early_inference dataset ({str(exc).removeprefix(f'{path}: ')})") from None
    if expected_config is not None:
        expected = _validate_config(expected_config)
        if config != expected:
            differing = sorted(k for k in set(config) | set(expected) if config.get(k) != expected.get(k))
            raise DataError(
                f"{path}: dataset was generated with a different config (differs in {differing}); "
                "regenerate it or point to the matching file"
            )
    lengths = config["prefix_lengths"]
    try:
        data = EarlyInferenceData(
            config=config,
            times={length: arrays[f"times_{_key(length)}"] for length in lengths},
            params={s: arrays[f"{s}_params"] for s in SPLITS},
            known={s: arrays[f"{s}_known"] for s in SPLITS},
            obs={s: {length: arrays[f"{s}_obs_{_key(length)}"] for length in lengths} for s in SPLITS},
        )
    except KeyError as exc:
        raise DataError(f"{path}: missing array {exc}") from None
    for split in SPLITS:
        n = len(data.params[split])
        named = {"params": data.params[split], "known": data.known[split]}
        named.update({f"obs_{_key(length)}": data.obs[split][length] for length in lengths})
        for name, array in named.items():
            if array.dtype.kind not in "fiu":
                raise DataError(f"{path}: {split}_{name} holds {array.dtype} values, not numbers")
            if len(array) != n:
                raise DataError(f"{path}: {split}_{name} has {len(array)} rows, expected {n}")
            if not np.all(np.isfinite(array)):
                bad = int(np.sum(~np.isfinite(array)))
                raise DataError(f"{path}: {split}_{name} holds {bad} NaN/inf values; refusing to train on it")
    for length, times in data.times.items():
        if times.dtype.kind not in "fiu" or not np.all(np.isfinite(times)):
            raise DataError(f"{path}: times_{_key(length)} must hold finite numbers, got {times.dtype}")
    return data


def load_or_generate(
    config: Mapping[str, Any],
    cache_dir: str | os.PathLike[str],
    n_workers: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
) -> tuple[EarlyInferenceData, Path]:
    """The cached dataset for ``config`` if present, else generate and cache it."""
    path = dataset_path(cache_dir, config)
    if path.is_file():
        return load_dataset(path, expected_config=config), path
    data = generate_dataset(config, n_workers=n_workers, backend=backend, ray_address=ray_address)
    save_dataset(data, path)
    return data, path


if __name__ == "__main__":  # the original project's script name: the same as `python -m early_inference generate`
    from early_inference.cli import generate_main

    raise SystemExit(generate_main())
