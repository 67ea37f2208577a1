"""Kill-safety: a dead worker of the original path, a killed fast trainer, corrupt input."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from workflow_rl.cli import main
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.shm_engine import SHM_PREFIX, SharedMemoryEngine, WorkerDiedError
from workflow_rl.sim import OBS_DIM
from workflow_rl.trainer import train

from trainkit import CheckpointError, ConfigError, load_checkpoint
from trainkit.checkpoint import content_hash

WORKFLOW = "op_server,enterprise,defender,op_host,user"


def _our_segments() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith(SHM_PREFIX)}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def test_killed_worker_is_reported_others_stop_and_no_shared_memory_leaks():
    before = _our_segments()
    engine = SharedMemoryEngine(4, "bline", (2, 1, 0, 3, 4), 0.5, seed=0)
    engine.reset()
    # the name is unlinked as soon as the workers attached; they still share the block through their mappings
    assert _our_segments() == before
    first, *_ = engine.step(np.zeros(4, dtype=np.int64))
    assert first.shape == (4, OBS_DIM) and first[:, : 13 * 4].any()
    victim, others = engine.processes[1], engine.processes[:1] + engine.processes[2:]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(WorkerDiedError, match=r"env worker 1 \(pid \d+\) died"):
        for _ in range(5):
            engine.step(np.zeros(4, dtype=np.int64))
    assert not any(p.is_alive() for p in others)
    assert _our_segments() == before


def _start_original(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    command = [sys.executable, "-m", "workflow_rl", "train", "--trainer", "original", "--n-envs", "4"]
    command += ["--total-episodes", "4000", "--max-episodes", "4000", "--workflow", WORKFLOW]
    command += ["--compliance-threshold", "1.0", "--out", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 4:
        time.sleep(0.2)
        # forked env workers share the trainer's command line; the resource tracker does not
        own_cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        workers = [pid for pid in _children(proc.pid) if Path(f"/proc/{pid}/cmdline").read_bytes() == own_cmdline]
    assert len(workers) >= 4, "the original trainer did not start its workers"
    time.sleep(1.0)
    return proc, workers


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


@pytest.mark.slow  # starts the original trainer; the engine-level test above checks the unlink quickly
def test_original_trainer_leaves_no_segment_even_while_it_runs_nor_after_a_kill_9(tmp_path):
    before = _our_segments()
    proc, workers = _start_original(tmp_path)
    assert _our_segments() == before  # unlinked once the workers attached, long before any kill
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and not all(_gone(pid) for pid in workers):
        time.sleep(0.2)
    assert all(_gone(pid) for pid in workers) and _our_segments() == before


def test_original_trainer_exits_with_one_line_when_a_worker_is_killed(tmp_path):
    before = _our_segments()
    proc, workers = _start_original(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "died with exit code -9" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert _our_segments() == before
    assert all(_gone(pid) for pid in workers[1:])


def test_terminated_original_trainer_stops_its_workers_and_frees_shared_memory(tmp_path):
    before = _our_segments()
    proc, workers = _start_original(tmp_path)
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    time.sleep(0.5)
    assert _our_segments() == before
    assert all(_gone(pid) for pid in workers)


def _episodes(path: Path) -> list[int]:
    with open(path, newline="") as handle:
        return [int(row["episode"]) for row in csv.DictReader(handle)]


def _rows_without_time(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]


@pytest.mark.slow  # three trainings in subprocesses: about a minute on 2 busy cores
def test_fast_trainer_killed_hard_resumes_to_the_uninterrupted_run(tmp_path):
    total = 192
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    base = [sys.executable, "-m", "workflow_rl", "train", "--trainer", "fast", "--n-envs", "32"]
    base += ["--total-episodes", str(total), "--max-episodes", str(total), "--workflow", WORKFLOW]
    base += ["--compliance-threshold", "1.0", "--checkpoint-every-s", "0"]
    proc = subprocess.Popen([*base, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = killed / "episodes.csv"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and (not log.exists() or len(_episodes(log)) < 64):
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    logged = _episodes(log)
    checkpointed = load_checkpoint(killed / "checkpoint.pt")["progress"]["episodes"]
    # whole rows, in order, and never behind the checkpoint: only the unflushed batch was lost
    assert logged == list(range(len(logged))) and len(logged) >= checkpointed > 0
    assert checkpointed < total

    subprocess.run([*base, "--out", str(killed)], check=True, capture_output=True)
    subprocess.run([*base, "--out", str(whole)], check=True, capture_output=True)
    # Resumed equals uninterrupted: the simulator's and torch's RNG states travel in the checkpoint.
    assert _episodes(log) == list(range(total))
    assert _rows_without_time(log) == _rows_without_time(whole / "episodes.csv")
    resumed_agent = load_checkpoint(killed / "checkpoint.pt")["agent"]
    whole_agent = load_checkpoint(whole / "checkpoint.pt")["agent"]
    assert all(torch.equal(resumed_agent[name], whole_agent[name]) for name in whole_agent)


def test_rerunning_a_finished_run_trains_nothing_more(tmp_path):
    config = with_trainer(
        TrainConfig(
            n_envs=8, total_episodes=16, max_episodes=16, workflow=(2, 1, 0, 3, 4), out=tmp_path, eval_episodes=8
        ),
        "fast",
    )
    first = train(config, show_progress=False)
    again = train(config, show_progress=False)
    assert first.updates == again.updates and again.resumed_from == 16
    assert _episodes(tmp_path / "episodes.csv") == list(range(16))


def test_corrupt_checkpoint_and_changed_settings_are_one_line_errors(tmp_path, capsys):
    config = with_trainer(
        TrainConfig(n_envs=4, total_episodes=8, max_episodes=8, out=tmp_path, eval_episodes=4), "fast"
    )
    train(config, show_progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        train(TrainConfig(**{**config.__dict__, "seed": 1}), show_progress=False)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    argv = ["train", "--n-envs", "4", "--total-episodes", "8", "--out", str(tmp_path)]
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert "checkpoint" in stderr and stderr.count("\n") == 1
    with pytest.raises(CheckpointError):
        train(config, show_progress=False)


def test_a_checkpoint_of_another_network_layout_is_one_checkpoint_error(tmp_path, capsys):
    config = with_trainer(
        TrainConfig(n_envs=4, total_episodes=8, max_episodes=8, out=tmp_path, eval_episodes=4), "fast"
    )
    train(config, show_progress=False)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    checkpoint["state"]["agent"] = {"w1": torch.zeros(2, 90, 64)}  # the fused layout before its flat parameter
    checkpoint["sha256"] = content_hash(checkpoint["state"])  # a whole, honest file of another layout
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    before = (tmp_path / "checkpoint.pt").read_bytes()
    assert main(["train", "--n-envs", "4", "--total-episodes", "16", "--out", str(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert "does not fit this trainer" in stderr and '"flat"' in stderr and stderr.count("\n") == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_or_foreign_checkpoint_is_refused_and_never_runs(tmp_path):
    import pickle

    from trainkit import save_checkpoint

    marker = tmp_path / "payload_ran"
    config = with_trainer(
        TrainConfig(n_envs=4, total_episodes=8, max_episodes=8, out=tmp_path, eval_episodes=4), "fast"
    )
    (tmp_path / "checkpoint.pt").write_bytes(pickle.dumps({"state": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(config, show_progress=False)
    assert not marker.exists()
    save_checkpoint(tmp_path / "checkpoint.pt", {"identity": {}}, package="neuro_gym", kind="train_state")
    with pytest.raises(CheckpointError, match="neuro_gym"):
        train(config, show_progress=False)
