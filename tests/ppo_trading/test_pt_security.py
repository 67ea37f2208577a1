"""Loading never executes code: planted payloads at every path a resumed ``train`` reads.

Each payload, when unpickled, creates a marker file (``open(marker, "w")``); a test that the
payloads are live proves the other tests can fail.
"""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch
from ppo_trading import train_ppo_optimized
from ppo_trading.data import generate_synthetic_xauusd, load_ohlc, write_ohlc_csv
from ppo_trading.features import FeatureCache, FeatureConfig
from ppo_trading.policy_store import file_sha256, load_policy
from ppo_trading.utils.training_utils_optimized import ValidationEarlyStopping
from stable_baselines3.common.save_util import load_from_zip_file

from trainkit import CheckpointError, load_checkpoint, save_checkpoint

SEED = 3


class Payload:
    """Unpickling this opens (creates) ``marker``: any code path that unpickles it leaves the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def sb3_zip(path: Path, marker: Path) -> Path:
    """An SB3 model zip whose ``data`` carries a cloudpickled payload, as ``RecurrentPPO.load`` reads it."""
    blob = base64.b64encode(cloudpickle.dumps(Payload(marker))).decode()
    data = {"policy_class": {":type:": "<class 'type'>", ":serialized:": blob}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data))
        archive.writestr("_stable_baselines3_version", "2.9.2")
    return path


def torch_pickle(path: Path, marker: Path) -> Path:
    torch.save({"policy": Payload(marker)}, path)  # torch.save pickles; __reduce__ is not run here
    return path


def raw_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


PLANTERS = {"sb3_zip": sb3_zip, "torch_pickle": torch_pickle, "raw_pickle": raw_pickle}


def _argv(csv: Path, results: Path) -> list[str]:
    return ["--data_path", str(csv), "--preset", "ci", "--seed", str(SEED), "--results_dir", str(results),
            "--instrument", "xauusd",
            "--verbose", "0"]  # fmt: skip


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A ci run of 2 iterations, killed inside iteration 1: progress names iteration 0's model."""
    root = tmp_path_factory.mktemp("interrupted")
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_000, seed=11), root / "bars.csv")
    real = ValidationEarlyStopping._evaluate

    def interrupt(self):
        if self.best_model_path.name.startswith("iter001"):
            raise KeyboardInterrupt
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PPO_TRADING_CACHE", str(root / "cache"))
        patch.setattr(ValidationEarlyStopping, "_evaluate", interrupt)
        assert train_ppo_optimized.main(_argv(csv, root / "results")) == 130
    run_dir = root / "results" / str(SEED)
    state = load_checkpoint(run_dir / "progress.pt")
    assert state["completed"] == 1 and state["best_model"] == "iterations/iter000_cand0.pt"
    return csv, run_dir


@pytest.fixture()
def run_copy(interrupted_run, tmp_path):
    csv, run_dir = interrupted_run
    copy = tmp_path / "results" / str(SEED)
    shutil.copytree(run_dir, copy)
    return csv, copy


def _forge_progress(run_dir: Path, **changes) -> None:
    state = load_checkpoint(run_dir / "progress.pt")
    state.update(changes)
    save_checkpoint(run_dir / "progress.pt", state, package="ppo_trading", kind="progress")


@pytest.mark.parametrize("kind", sorted(PLANTERS))
def test_payloads_are_live(tmp_path, kind):
    """Guards the tests below: each planted file does run code when unpickled the way SB3 or pickle would."""
    marker = tmp_path / "ran"
    path = PLANTERS[kind](tmp_path / "payload", marker)
    if kind == "sb3_zip":
        load_from_zip_file(path)  # what RecurrentPPO.load calls
    elif kind == "torch_pickle":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("kind", sorted(PLANTERS))
@pytest.mark.parametrize("hash_forged", [False, True], ids=["hash_kept", "hash_forged"])
def test_planted_model_at_the_progress_path_never_runs(run_copy, tmp_path, capsys, monkeypatch, kind, hash_forged):
    """The model progress.pt names is replaced; with the hash forged too, the loader itself must refuse."""
    csv, run_dir = run_copy
    monkeypatch.setenv("PPO_TRADING_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "ran"
    planted = PLANTERS[kind](run_dir / "iterations" / "iter000_cand0.pt", marker)
    if hash_forged:
        _forge_progress(run_dir, best_sha256=file_sha256(planted))
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 2
    err = _one_line_error(capsys)
    assert not marker.exists()
    assert "iter000_cand0.pt" in err and (hash_forged or "sha256 differs" in err)
    assert not (run_dir / "best_model.pt").exists()


@pytest.mark.parametrize("kind", sorted(PLANTERS))
def test_planted_progress_file_never_runs(run_copy, tmp_path, capsys, kind):
    csv, run_dir = run_copy
    marker = tmp_path / "ran"
    PLANTERS[kind](run_dir / "progress.pt", marker)
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 2
    assert "progress.pt" in _one_line_error(capsys)
    assert not marker.exists()


@pytest.mark.parametrize("kind", sorted(PLANTERS))
def test_loader_refuses_payloads_without_a_recorded_hash(tmp_path, kind):
    marker = tmp_path / "ran"
    path = PLANTERS[kind](tmp_path / "model.pt", marker)
    with pytest.raises(CheckpointError) as caught:
        load_policy(path)
    assert len(str(caught.value).splitlines()) == 1
    assert not marker.exists()


def test_planted_cache_and_best_model_are_never_unpickled(run_copy, tmp_path, capsys, monkeypatch):
    """A pickled .npy in the feature cache is recomputed, a planted best_model.pt is replaced; the run finishes."""
    csv, run_dir = run_copy
    cache = tmp_path / "cache"
    monkeypatch.setenv("PPO_TRADING_CACHE", str(cache))
    FeatureCache._memory.clear()
    marker = tmp_path / "ran"
    cache.mkdir()
    cached = cache / f"features_{FeatureCache.key(load_ohlc(csv), FeatureConfig())}.npy"
    raw_pickle(cached, marker)
    torch_pickle(run_dir / "best_model.pt", marker)
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 0
    assert not marker.exists()
    assert np.load(cached, allow_pickle=False).shape[0] == 4_000  # it was read, refused and rewritten
    state = load_checkpoint(run_dir / "progress.pt")
    assert file_sha256(run_dir / "best_model.pt") == state["best_sha256"]
    load_policy(run_dir / "best_model.pt", state["best_sha256"])


@pytest.mark.parametrize("escape", ["../outside.pt", "ABSOLUTE", "iterations/link.pt"])
def test_progress_paths_outside_the_run_folder_are_refused(run_copy, tmp_path, capsys, escape):
    csv, run_dir = run_copy
    outside = tmp_path / "outside.pt"
    shutil.copy(run_dir / "iterations" / "iter000_cand0.pt", outside)  # a valid model, right hash
    (run_dir / "iterations" / "link.pt").symlink_to(outside)
    named = str(outside) if escape == "ABSOLUTE" else escape
    if escape == "../outside.pt":
        shutil.copy(outside, run_dir.parent / "outside.pt")
    _forge_progress(run_dir, best_model=named)
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 2
    err = _one_line_error(capsys)
    assert "outside the run folder" in err or "not a path relative" in err


def test_a_truncated_model_never_destroys_best_model(run_copy, tmp_path, capsys, monkeypatch):
    csv, run_dir = run_copy
    monkeypatch.setenv("PPO_TRADING_CACHE", str(tmp_path / "cache"))
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 0
    good = (run_dir / "best_model.pt").read_bytes()
    named = run_dir / load_checkpoint(run_dir / "progress.pt")["best_model"]
    named.write_bytes(named.read_bytes()[: len(good) // 2])
    assert train_ppo_optimized.main(_argv(csv, run_dir.parent)) == 2
    assert "sha256 differs" in _one_line_error(capsys)
    assert (run_dir / "best_model.pt").read_bytes() == good
