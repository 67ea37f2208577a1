"""Issue 27's generic classes: checkpoint content hashes, run-folder locks, symlinked logs, full disks,
forged .npz sizes and progress lines when the output is not a terminal."""

from __future__ import annotations

import io
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from trainkit import BatchedCSVLogger, truncate_csv_rows
from trainkit.atomic import open_append, write_json
from trainkit.checkpoint import content_hash, load_checkpoint, save_checkpoint
from trainkit.errors import CheckpointError, DataError, OutputError
from trainkit.npz import load_npz
from trainkit.progress import progress_bar
from trainkit.run_folder import claim_run_folder, release_run_folder

HOLD = (
    "import sys, time; from trainkit.run_folder import claim_run_folder; "
    "claim_run_folder(sys.argv[1]); print('held', flush=True); time.sleep(60)"
)


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


# ---- checkpoints ------------------------------------------------------------------------------------------
def test_flipped_tensor_bits_are_refused_and_a_clean_file_loads(tmp_path):
    weights = torch.arange(64, dtype=torch.float32) + 1234.5
    state = {
        "w": weights,
        "epoch": 3,
        "opt": {"lr": 0.1, "m": [torch.zeros(0), torch.tensor(2.0, dtype=torch.bfloat16)]},
    }
    path = save_checkpoint(tmp_path / "c.pt", state, package="p", kind="k")
    loaded = load_checkpoint(path, package="p", kind="k")
    assert torch.equal(loaded["w"], weights) and content_hash(loaded) == content_hash(state)
    raw = bytearray(path.read_bytes())
    offset = raw.find(weights.numpy().tobytes())
    raw[offset + 10] ^= 0x01
    (tmp_path / "flipped.pt").write_bytes(bytes(raw))
    assert zipfile.is_zipfile(tmp_path / "flipped.pt")  # still a valid archive: only the hash sees it
    with pytest.raises(CheckpointError, match="does not match its sha256"):
        load_checkpoint(tmp_path / "flipped.pt")


def test_the_content_hash_sees_every_kind_of_change():
    base = {"w": torch.ones(3), "n": 1, "name": "a", "nested": [1.0, {"k": torch.zeros(2, 2)}]}
    variants = [
        {**base, "w": torch.ones(3, dtype=torch.float64)},  # dtype
        {**base, "w": torch.ones(1, 3)},  # shape
        {**base, "n": 2},
        {**base, "name": "b"},
        {**base, "nested": [1.0, {"k": torch.eye(2)}]},
        {"n": 1, **{k: v for k, v in base.items() if k != "n"}},  # order of keys is part of the file
    ]
    hashes = {content_hash(v) for v in variants}
    assert content_hash(base) not in hashes and len(hashes) == len(variants)


# ---- one run per folder -----------------------------------------------------------------------------------
def test_a_second_process_cannot_claim_a_held_folder_until_the_holder_dies(tmp_path):
    folder = tmp_path / "run"
    holder = _holder(folder)
    try:
        with pytest.raises(OutputError, match="another run is writing to this folder"):
            claim_run_folder(folder)
    finally:
        holder.kill()  # kill -9: the kernel drops the lock with the process
        holder.wait()
    (folder / ".x.pt.abc.tmp").write_text("stale")
    assert claim_run_folder(folder) == 1  # claimed, and the killed run's temp file cleared
    assert claim_run_folder(folder) == 0  # this process holds it already: a no-op
    release_run_folder(folder)
    _holder(folder).kill()  # released: another process can take it


def _sleep_in_child(seconds: float) -> None:
    time.sleep(seconds)


def test_a_forked_worker_does_not_keep_the_folder_locked(tmp_path):
    folder = tmp_path / "run"
    claim_run_folder(folder)
    child = multiprocessing.get_context("fork").Process(target=_sleep_in_child, args=(30,), daemon=True)
    child.start()
    try:
        release_run_folder(folder)  # the parent lets go while its forked worker still runs
        holder = _holder(folder)
        holder.kill()
        holder.wait()
    finally:
        child.kill()
        child.join()


# ---- symbolic links ---------------------------------------------------------------------------------------
def test_logs_planted_as_symlinks_are_refused_and_their_targets_untouched(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("a,b\n1,2\n3,4\n")
    link = tmp_path / "run" / "log.csv"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(OutputError, match="is a symbolic link"):
        BatchedCSVLogger(link, ["a", "b"], keep_rows=1)
    with pytest.raises(OutputError, match="is a symbolic link"):
        truncate_csv_rows(link, 0)
    with pytest.raises(OutputError, match="is a symbolic link"):
        open_append(link)
    assert outside.read_text() == "a,b\n1,2\n3,4\n"
    write_json(link, {"x": 1})  # an atomic write replaces the link itself
    assert not link.is_symlink() and outside.read_text() == "a,b\n1,2\n3,4\n"


# ---- a full disk ------------------------------------------------------------------------------------------
def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (40 * 1024, 40 * 1024))


def test_a_full_disk_is_one_line_naming_the_file_and_the_last_checkpoint(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuro_gym",
            "train",
            "--task",
            "xor",
            "--max-epochs",
            "200",
            "--checkpoint-dir",
            "ck",
            "--checkpoint-every",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        env={**os.environ, "CI": "1"},
        timeout=300,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("python -m neuro_gym: error: no space left writing ck/")
    assert "(File too large)" in lines[0] and ("the last checkpoint is ck/" in lines[0] or "no checkpoint" in lines[0])


# ---- forged .npz sizes ------------------------------------------------------------------------------------
def _forged_npz(path: Path, shape: tuple[int, ...]) -> Path:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inputs.npy", header.getvalue() + b"\0" * 16)  # the header writer adds the magic
    return path


def test_an_npz_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    forged = _forged_npz(tmp_path / "forged.npz", (10**11, 4))
    assert forged.stat().st_size < 400
    with pytest.raises(DataError, match=r"declares shape \(100000000000, 4\)"):
        load_npz(forged)
    np.savez(tmp_path / "ok.npz", inputs=np.ones((4, 2)), labels=np.arange(4))
    assert load_npz(tmp_path / "ok.npz")["inputs"].shape == (4, 2)
    with pytest.raises(DataError, match="over"):
        load_npz(tmp_path / "ok.npz", max_bytes=16)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as archive:
        archive.write(tmp_path / "objects.npy", "inputs.npy")
    with pytest.raises(DataError, match="holds Python objects"):
        load_npz(tmp_path / "objects.npz")


# ---- progress when nobody watches a terminal --------------------------------------------------------------
def test_progress_goes_to_plain_lines_with_an_eta_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setenv("TRAINKIT_PROGRESS_INTERVAL", "0.01")
    out = io.StringIO()
    for _ in progress_bar(range(5), desc="train", file=out):
        time.sleep(0.02)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) >= 3
    assert all(line.startswith("train:") for line in lines)
    assert "<" in lines[1] and "5/5" in lines[-1]  # tqdm's [elapsed<remaining] is the ETA
    monkeypatch.setenv("CI", "1")
    quiet = io.StringIO()
    for _ in progress_bar(range(3), desc="train", file=quiet):
        pass
    assert quiet.getvalue() == ""


# ---- the report and suite commands --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "reason"),
    [("{oops", "not a benchmark document (Expecting property name"), ('{"schema": 3}', "not a benchmark document")],
)
def test_the_report_refuses_a_file_that_is_not_a_benchmark_in_one_line(tmp_path, content, reason):
    (tmp_path / "b.json").write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "trainkit.report", "b.json", "--out", "rep"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr[-1500:]
    assert reason in done.stderr and not (tmp_path / "rep").exists()


def test_the_suite_refuses_an_unknown_package_before_running_anything(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "trainkit.suite", "--root", str(tmp_path), "--packages", "bogus", "--preset", "ci"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--packages bogus" in done.stderr, done.stderr
    assert not (tmp_path / "reports").exists()
