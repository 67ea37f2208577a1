"""Every row of the bad-input table: exit 2, one line on stderr, no traceback, nothing changed, no payload run."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bad_input_runner import (
    MARKER_NAME,
    Outcome,
    bad_csv,
    bit_flipped_checkpoint,
    changed_files,
    hold_run_folder,
    malicious_npz,
    malicious_pickle,
    malicious_sb3_zip,
    malicious_torch,
    mount_full,
    mount_readonly,
    record,
    run_in_process,
    run_subprocess,
    snapshot,
    truncated_copy,
    unmount,
)
from bad_input_table import BASES, ROWS, SUBPROCESS_ROWS, Row

FOREIGN = {package: "foreign:early_inference" if package == "neuro_gym" else "foreign:neuro_gym" for package in BASES}


def _make(kind: str, path: Path, assets: dict[str, Path], marker: Path) -> Path:
    """Write the malformed input file ``{bad}`` of the given kind."""
    if kind.startswith("csv_"):
        return bad_csv(kind.removeprefix("csv_"), assets["csv"], path.with_suffix(".csv"))
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "text_file":
        path.write_text("a,b\n1,2\n")
    elif kind == "npz_wrong_keys":
        np.savez(path, something=np.zeros(3))
    elif kind == "npz_nan":
        np.savez(path, inputs=np.full((4, 2), np.nan), labels=np.array([0, 1, 1, 0]))
    elif kind == "npz_mismatch":
        np.savez(path, inputs=np.zeros((4, 2)), labels=np.array([0, 1, 1]))
    elif kind == "npz_forged_shape":  # 200 bytes declaring shape (1e11, 4): 3.2 TB if believed
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 4)})
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("inputs.npy", header.getvalue() + bytes(16))
            archive.writestr("labels.npy", header.getvalue() + bytes(16))
    elif kind == "npz_string_labels":
        np.savez(path, inputs=np.ones((4, 2)), labels=np.array(["a", "b", "a", "b"]))
    elif kind == "npz_huge_num_classes":  # a readout of 1e9 neurons: 128 GB of weights if believed
        np.savez(path, inputs=np.ones((4, 2)), labels=np.array([0, 1, 1, 0]), num_classes=np.array(10**9))
    elif kind == "data_strings":
        with np.load(assets["data"]) as data:
            arrays = {key: data[key] for key in data.files}
        arrays["train_params"] = np.array(["x"] * len(arrays["train_params"]))
        np.savez(path, **arrays)
    elif kind == "truncated_data":
        truncated_copy(assets["data"], path)
    elif kind == "malicious_npz":
        with np.load(assets["data"]) as data:
            keys = (*data.files, "inputs", "labels")
        malicious_npz(path, marker, keys)
    else:
        raise ValueError(f"unknown input kind {kind!r}")
    return path


def _plant(where: Path, kind: str, row: Row, assets: dict[str, Path], marker: Path) -> None:
    """Put a bad file where the command looks for its own checkpoint."""
    where.parent.mkdir(parents=True, exist_ok=True)
    foreign = assets[FOREIGN[row.package]]
    if kind == "foreign":
        shutil.copyfile(foreign, where)
    elif kind == "truncated":
        truncated_copy(foreign, where)
    elif kind == "empty":
        where.write_bytes(b"")
    elif kind == "garbage":
        where.write_bytes(os.urandom(2048))
    elif kind == "malicious":
        malicious_torch(where, marker, row.package, "train_state")
    elif kind == "malicious_pickle":
        malicious_pickle(where, marker)
    elif kind == "malicious_sb3":
        malicious_sb3_zip(where, marker)
    elif kind == "folder":
        where.mkdir()
        (where / "x").write_text("not a checkpoint")
    elif kind == "bitflip":
        bit_flipped_checkpoint(where, row.package)
    elif kind == "symlink":  # a log planted as a link to a file outside the run folder
        out = next(parent for parent in where.parents if parent.name == "out")
        outside = out.parent / "in" / "outside.csv"
        outside.write_text("somebody else's file\n")
        where.symlink_to(outside)
    else:
        raise ValueError(f"unknown plant kind {kind!r}")


def _prepare(row: Row, root: Path, assets: dict[str, Path], mounts: list[Path]) -> list[str]:
    """Create the row's folders and files; return its argv with placeholders filled."""
    marker = root / MARKER_NAME
    values = {"out": root / "out", "in": root / "in", "afile": root / "in" / "afile.txt", "ro": root / "ro"}
    values |= {"full": root / "full", "bad": root / "in" / "bad.npz"}
    for folder in ("out", "in", "home"):
        (root / folder).mkdir()
    values["afile"].write_text("a file, not a folder\n")
    for name in ("csv", "data"):
        values[name] = Path(shutil.copy(assets[name], root / "in"))
    values["run"] = Path(shutil.copytree(assets["run"], root / "in" / "run"))
    for step in row.setup:
        kind, _, arg = step.partition(":")
        if kind == "make":
            values["bad"] = _make(arg, values["bad"], assets, marker)
        elif kind == "plant":
            where, _, what = arg.rpartition(":")
            _plant(root / "out" / where, what, row, assets, marker)
        elif kind == "locked":
            mounts.append(hold_run_folder(root / "out" / arg))
        elif kind in ("ro", "full"):
            reason = (mount_readonly if kind == "ro" else mount_full)(values[kind])
            if reason is not None:
                pytest.skip(f"{kind} folder needs a tmpfs mount, not available here: {reason}")
            mounts.append(values[kind])
        else:
            raise ValueError(f"unknown setup step {step!r}")
    return [arg.format(**{k: str(v) for k, v in values.items()}) for arg in row.argv]


@pytest.fixture
def row_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    mounts: list[Path] = []
    # matplotlib writes its font cache on first import: keep it out of the folders whose files are compared
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.getbasetemp() / "matplotlib"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield tmp_path, mounts
    for mount in mounts:
        if isinstance(mount, subprocess.Popen):
            mount.kill()
            mount.wait()
        else:
            unmount(mount)


def _judge(outcome: Outcome) -> None:
    assert not outcome.problems(), outcome.summary()


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_row(row: Row, assets, row_env, capfd: pytest.CaptureFixture[str]) -> None:
    root, mounts = row_env
    outcome = Outcome(row)
    try:
        argv = _prepare(row, root, assets, mounts)
    except pytest.skip.Exception as skip:
        outcome.skipped = str(skip)
        record(outcome)
        raise
    before = snapshot(root)
    outcome.code, outcome.stdout, outcome.stderr, outcome.exception, outcome.timed_out = run_in_process(
        row.package, argv, capfd
    )
    outcome.changed = changed_files(before, snapshot(root))
    outcome.payload_ran = (root / MARKER_NAME).exists()
    record(outcome)
    _judge(outcome)


@pytest.mark.parametrize("row_id", SUBPROCESS_ROWS)
def test_bad_input_row_as_process(row_id: str, assets, row_env) -> None:
    root, mounts = row_env
    row = next(r for r in ROWS if r.id == row_id)
    outcome = Outcome(row)
    argv = _prepare(row, root, assets, mounts)
    before = snapshot(root)
    env = {**os.environ, "HOME": str(root / "home")}
    outcome.code, outcome.stdout, outcome.stderr, outcome.timed_out = run_subprocess(row.package, argv, root, env)
    outcome.changed = changed_files(before, snapshot(root))
    outcome.payload_ran = (root / MARKER_NAME).exists()
    record(outcome, process=True)
    _judge(outcome)


@pytest.mark.parametrize("package", sorted(BASES))
def test_base_command_accepts_valid_input(package: str, assets, row_env, capfd: pytest.CaptureFixture[str]) -> None:
    """The control: each table row's base command, with nothing bad in it, runs and exits 0.

    Without it a row could pass because its base was already broken (a bad CSV path, a too small size...).
    """
    root, mounts = row_env
    argv = _prepare(Row(package, f"{package}:base", BASES[package]), root, assets, mounts)
    code, _, err, exception, timed_out = run_in_process(package, argv, capfd)
    assert not timed_out and exception is None and code == 0, (
        f"{package} base command failed: {exception} {err[-2000:]}"
    )
