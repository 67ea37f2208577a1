"""train_relentless: cadence, held target, patience, max_epochs, checkpoints and resume; task validation; CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from neuro_gym import Circuit, NeuroGym, circuit_config_for, get_profile, sequence_task, train_relentless, xor_task

from trainkit import CheckpointError, ConfigError, DataError

KEYS = {"epoch", "accuracy", "evaluated", "train_ms", "elapsed_s", "reached_target"}


def _xor_circuit(seed: int = 0, profile: str = "balanced") -> Circuit:
    p = get_profile(profile)
    return Circuit(circuit_config_for(xor_task(), p.num_time_steps), p.schedule, seed=seed)


def test_status_keys_cadence_and_max_epochs():
    statuses = list(
        train_relentless(
            _xor_circuit(), xor_task(), target_acc=1.0, eval_frequency=5, max_epochs=23, stop_at_target=False
        )
    )
    assert [s["epoch"] for s in statuses] == list(range(1, 24))
    assert statuses[-1]["stop_reason"] in (
        "epoch budget spent (23 epochs)",
        f"reached the target at epoch {statuses[-1]['reached_epoch']}",
    )
    assert set(statuses[0]) >= KEYS
    evaluated = [s["epoch"] for s in statuses if s["evaluated"]]
    assert evaluated == [*range(1, 11), 15, 20, 23]  # first 10 always, then every 5, and the last
    # Non-evaluated epochs carry the last evaluated accuracy.
    by_epoch = {s["epoch"]: s for s in statuses}
    assert by_epoch[12]["accuracy"] == by_epoch[10]["accuracy"]


def test_target_must_hold_for_two_consecutive_evaluations():
    statuses = list(train_relentless(_xor_circuit(), xor_task(), target_acc=1.0, eval_frequency=1, max_epochs=100))
    last = statuses[-1]
    assert last["reached_target"] and last["epoch"] == last["reached_epoch"]
    assert last["stop_reason"] == f"reached the target at epoch {last['reached_epoch']}"
    assert all(s["stop_reason"] is None for s in statuses[:-1])
    hits = [s["accuracy"] >= 1.0 for s in statuses if s["evaluated"]]
    assert hits[-2:] == [True, True]
    # Every earlier epoch either missed or was the first of a streak, never two hits in a row.
    assert not any(a and b for a, b in itertools.pairwise(hits[:-1]))


def test_patience_stops_a_hopeless_run_before_max_epochs():
    task = sequence_task(seed=0)
    circuit = Circuit(circuit_config_for(task, 3), seed=0)
    statuses = list(
        train_relentless(circuit, task, target_acc=1.0, eval_frequency=1, early_stop_patience=3, max_epochs=200)
    )
    assert len(statuses) < 200 and statuses[-1]["stop_reason"]


def test_resume_continues_epochs_schedules_and_matches_an_uninterrupted_run(tmp_path):
    task = xor_task()
    kwargs = {"target_acc": 1.0, "eval_frequency": 5, "stop_at_target": False, "seed": 4}
    straight = _xor_circuit(seed=4)
    list(train_relentless(straight, task, max_epochs=30, **kwargs))

    first = _xor_circuit(seed=4)
    run = list(train_relentless(first, task, max_epochs=17, checkpoint_dir=tmp_path, checkpoint_every=5, **kwargs))
    assert run[-1]["epoch"] == 17
    resumed = _xor_circuit(seed=4)
    rest = list(train_relentless(resumed, task, max_epochs=30, checkpoint_dir=tmp_path, checkpoint_every=5, **kwargs))
    assert rest[0]["epoch"] == 18 and rest[-1]["epoch"] == 30
    assert rest[-1]["elapsed_s"] >= run[-1]["elapsed_s"]  # the clock continues
    assert resumed.plasticity.updates == straight.plasticity.updates
    assert resumed.plasticity.lr_factor == straight.plasticity.lr_factor
    assert torch.allclose(resumed.output_weights, straight.output_weights)


def test_corrupt_checkpoint_is_a_checkpoint_error(tmp_path):
    (tmp_path / "epoch000010.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        next(train_relentless(_xor_circuit(), xor_task(), checkpoint_dir=tmp_path))


def test_profile_must_match_the_circuit_schedule():
    with pytest.raises(ConfigError):
        next(train_relentless(_xor_circuit(profile="original"), xor_task(), profile=get_profile("balanced")))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"inputs": np.full((4, 1, 4), np.nan, dtype=np.float32)}, "NaN"),
        ({"inputs": np.zeros((4, 2, 2, 2), dtype=np.float32)}, "must be"),
        ({"labels": np.array([0, 1, 2, 1])}, "must lie in"),
        ({"labels": np.array([0, 1, 1])}, "shape"),
        ({"inputs": np.full((4, 1, 4), 3.0, dtype=np.float32)}, "[0, 1]"),
    ],
)
def test_bad_task_data_is_a_clear_data_error(change, message):
    task = {**xor_task(), **change}
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        NeuroGym(_xor_circuit(), task)


def test_task_that_does_not_fit_the_circuit_is_a_data_error():
    with pytest.raises(DataError, match="channels"):
        NeuroGym(_xor_circuit(), sequence_task(0))


def test_cli_bad_task_file_gives_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "task.npz"
    np.savez(bad, inputs=np.zeros((4, 4), dtype=np.float32), labels=np.array([0, 1, 5, 1]), num_classes=2)
    proc = subprocess.run(
        [sys.executable, "-m", "neuro_gym", "train", "--task-file", str(bad), "--checkpoint-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "labels" in proc.stderr


def test_cli_train_saves_a_brain_and_a_rerun_resumes(tmp_path, capsys):
    from neuro_gym.cli import main

    args = ["train", "--task", "xor", "--max-epochs", "12", "--target", "1.0", "--checkpoint-dir", str(tmp_path)]
    assert main([*args, "--profile", "max_accuracy"]) == 0
    assert (tmp_path / "brain" / "brain.pt").is_file() and (tmp_path / "log.csv").is_file()
    brain = Circuit.load(tmp_path / "brain" / "brain.pt")
    assert brain.plasticity.updates > 0
    assert main([*args, "--profile", "max_accuracy"]) == 0  # finished run: resumes and does nothing
    assert "already finished" in capsys.readouterr().out


def test_cli_stdp_competition_writes_a_histogram(tmp_path):
    from neuro_gym.cli import main

    assert main(["stdp-competition", "--out", str(tmp_path), "--duration", "0.5"]) == 0
    assert (tmp_path / "stdp_competition.png").stat().st_size > 1000


def test_cli_resume_keeps_log_rows_only_up_to_the_checkpoint(tmp_path):
    import csv

    from neuro_gym.cli import main

    args = ["train", "--task", "xor", "--target", "1.0", "--checkpoint-dir", str(tmp_path), "--checkpoint-every", "5"]
    assert main([*args, "--max-epochs", "5", "--profile", "max_accuracy"]) == 0
    log = tmp_path / "log.csv"
    with open(log, "a") as handle:  # rows logged after the checkpoint by a run that was then killed
        handle.write("6,0.5,True,1.0,1.0,1.0,1.0,False,0.0\n7,0.5,True,1.0,1.0,1.0,1.0,False,0.0\n")
    assert main([*args, "--max-epochs", "9", "--profile", "max_accuracy"]) == 0
    with open(log, newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(1, 10))
