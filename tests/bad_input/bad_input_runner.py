"""Run one bad-input row (in process, or as a real ``python -m`` subprocess) and judge its outcome.

A row passes when the command exits 2 with exactly one line on stderr, prints no traceback, leaves every file
under the row's folder byte-identical (sha256 before and after), and no planted payload ran (its marker folder
never appears). Rows run in process through :func:`runpy.run_module`, which is what ``python -m <package>``
does, so 200 rows cost seconds; a few rows also run as subprocesses to prove the process-level behaviour.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import os
import pickle
import runpy
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bad_input_table import Row

from trainkit.checkpoint import save_checkpoint

ROW_TIMEOUT_S = 30  # a silently accepted row runs its (ci-sized) payload; cut it off here and count it
MARKER_NAME = "PAYLOAD_RAN"


class RowTimeout(BaseException):
    """Raised by SIGALRM inside a row that ran past ROW_TIMEOUT_S (a BaseException: `except Exception` misses it)."""


class Payload:
    """Unpickling this creates the marker folder: proof that a loader executed code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.mkdir, (self.marker,))


@dataclass
class Outcome:
    row: Row
    code: int | None = None
    stderr: str = ""
    stdout: str = ""
    exception: str | None = None  # an exception that escaped main(): a traceback in a real process
    changed: list[str] = field(default_factory=list)
    payload_ran: bool = False
    timed_out: bool = False
    skipped: str | None = None

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return self.exception is not None or "Traceback" in self.stderr or "Traceback" in self.stdout

    @property
    def silent(self) -> bool:
        """The bad input was accepted: the command succeeded or was still working when cut off."""
        return self.code == 0 or self.timed_out

    def problems(self) -> list[str]:
        found = []
        if self.traceback:
            found.append(f"traceback ({self.exception or 'in output'})")
        if self.silent:
            found.append("accepted silently" + (f" (still running after {ROW_TIMEOUT_S} s)" if self.timed_out else ""))
        elif self.code != 2:
            found.append(f"exit {self.code}, not 2")
        if not self.silent and len(self.stderr_lines) != 1:
            found.append(f"{len(self.stderr_lines)} lines on stderr, not 1")
        if self.changed:
            found.append(f"changed files: {', '.join(self.changed[:4])}")
        if self.payload_ran:
            found.append("PAYLOAD RAN")
        if self.row.flag and not self.silent and self.code == 2 and not _names(self.stderr, self.row.flag):
            found.append(f"the error does not name {self.row.flag} (refused for another reason?)")
        return found

    def summary(self) -> str:
        tail = self.stderr_lines[-3:] if self.stderr_lines else []
        return f"{self.row.id}: {'; '.join(self.problems()) or 'ok'} | argv {list(self.row.argv)} | stderr {tail}"


# Every judged row, read by conftest.py's terminal summary (this module is imported once, by name).
OUTCOMES: list[Outcome] = []
PROCESS_OUTCOMES: list[Outcome] = []


def record(outcome: Outcome, process: bool = False) -> None:
    (PROCESS_OUTCOMES if process else OUTCOMES).append(outcome)


def _names(text: str, flag: str) -> bool:
    """Whether an error message names ``flag`` (``--max-epochs``, ``max_epochs`` and ``max epochs`` all count)."""
    words = flag.lstrip("-").lower().replace("_", "-")
    text = text.lower().replace("_", "-")
    return any(form in text for form in (words, words.replace("-", " ")))


# ---------------------------------------------------------------- snapshots


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (empty folders do not count: a probe may create the output folder)."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            try:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if not path.is_symlink() else "link"
            except OSError as exc:
                found[rel] = f"unreadable: {exc.strerror}"
    return found


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(
        [f"+{k}" for k in after.keys() - before.keys()]
        + [f"-{k}" for k in before.keys() - after.keys()]
        + [f"~{k}" for k in before.keys() & after.keys() if before[k] != after[k]]
    )


# ---------------------------------------------------------------- planted files


def write_csv(path: Path, header: list[str] | None, rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def _gold_rows(valid_csv: Path) -> tuple[list[str], list[list[str]]]:
    with open(valid_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def bad_csv(kind: str, valid_csv: Path, path: Path) -> Path:
    """A malformed copy of a valid OHLC CSV (``kind`` names what is wrong with it)."""
    header, rows = _gold_rows(valid_csv)
    price_cols = [i for i, name in enumerate(header) if name.lower() in ("open", "high", "low", "close")]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        write_csv(path, header, [])
    elif kind == "one_row":
        write_csv(path, header, rows[:1])
    elif kind == "too_few_rows":
        write_csv(path, header, rows[:60])
    elif kind == "nan_rows":
        bad = [list(r) for r in rows]
        for r in bad[100:400]:
            for i in price_cols:
                r[i] = "nan"
        write_csv(path, header, bad)
    elif kind == "all_nan":
        write_csv(path, header, [[r[0]] + ["nan"] * (len(r) - 1) for r in rows])
    elif kind == "inf_prices":
        bad = [list(r) for r in rows]
        for r in bad[200:210]:
            r[price_cols[-1]] = "inf"
        write_csv(path, header, bad)
    elif kind == "unsorted":
        write_csv(path, header, rows[len(rows) // 2 :] + rows[: len(rows) // 2])
    elif kind == "reversed":
        write_csv(path, header, rows[::-1])
    elif kind == "duplicate_timestamps":
        write_csv(path, header, [r for r in rows for _ in range(2)])
    elif kind == "wrong_columns":
        write_csv(path, ["a", "b", "c"], [[1, 2, 3]] * 500)
    elif kind == "missing_close":
        keep = [i for i, name in enumerate(header) if name.lower() != "close"]
        write_csv(path, [header[i] for i in keep], [[r[i] for i in keep] for r in rows])
    elif kind == "text_prices":
        bad = [list(r) for r in rows]
        for r in bad[50:60]:
            r[price_cols[0]] = "abc"
        write_csv(path, header, bad)
    elif kind == "negative_prices":
        bad = [list(r) for r in rows]
        for r in bad:
            for i in price_cols:
                r[i] = str(-abs(float(r[i])))
        write_csv(path, header, bad)
    elif kind == "zero_prices":
        write_csv(path, header, [[r[0], *["0" if i in price_cols else v for i, v in enumerate(r) if i]] for r in rows])
    elif kind == "bad_timestamps":
        write_csv(path, header, [["not a date", *r[1:]] for r in rows])
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "ragged":
        write_csv(path, header, [r[: 2 + (n % 3)] for n, r in enumerate(rows)])
    else:
        raise ValueError(f"unknown CSV kind {kind!r}")
    return path


def truncated_copy(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def malicious_torch(path: Path, marker: Path, package: str | None, kind: str | None) -> Path:
    """A torch zip whose unpickling would run os.mkdir(marker); shaped like a trainkit checkpoint."""
    payload = {"trainkit_checkpoint": 2, "package": package, "kind": kind, "state": {"epoch": 1, "x": Payload(marker)}}
    with open(path, "wb") as handle:
        torch.save(payload, handle)
    return path


def bit_flipped_checkpoint(path: Path, package: str) -> Path:
    """A checkpoint of ``package`` whose tensor bytes were changed after the save: the zip stays valid."""
    weights = torch.arange(256, dtype=torch.float32) + 1000.5
    save_checkpoint(path, {"epoch": 1, "weights": weights}, package=package, kind="train_state")
    raw = bytearray(path.read_bytes())
    offset = raw.find(weights.numpy().tobytes())
    assert offset > 0, "the tensor's bytes are not stored verbatim"
    raw[offset + 17] ^= 0x10
    path.write_bytes(bytes(raw))
    return path


def hold_run_folder(folder: Path) -> subprocess.Popen:
    """Another process that claims ``folder`` as its run folder and keeps it until killed."""
    folder.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys, time; from trainkit.run_folder import claim_run_folder; "
        "claim_run_folder(sys.argv[1]); print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held", "the holder did not start"
    return holder


def malicious_pickle(path: Path, marker: Path) -> Path:
    """A plain (non-zip) pickle with the same payload: what torch.load's legacy path would unpickle."""
    path.write_bytes(pickle.dumps({"state": Payload(marker)}, protocol=2))
    return path


def malicious_sb3_zip(path: Path, marker: Path) -> Path:
    """A Stable-Baselines3-style model zip whose ``data`` carries a pickled payload in a ``:serialized:`` field."""
    import base64
    import json

    blob = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"policy_class": {":type:": "<class 'x'>", ":serialized:": blob}}))
        archive.writestr("_stable_baselines3_version", "2.3.0")
    return path


def malicious_npy(path: Path, marker: Path) -> Path:
    np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return path


def malicious_npz(path: Path, marker: Path, keys: tuple[str, ...]) -> Path:
    arrays = {key: np.array([Payload(marker)], dtype=object) for key in keys}
    np.savez(path, **arrays)
    return path


# ---------------------------------------------------------------- mounts (read-only folder, full disk)


def _mount(args: list[str]) -> str | None:
    """None when it worked, else why not (the caller skips the row with that reason)."""
    if shutil.which("mount") is None:
        return "no mount command"
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"mount failed: {done.stderr.strip() or done.returncode}"


def mount_readonly(path: Path) -> str | None:
    path.mkdir(parents=True, exist_ok=True)
    return _mount(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)])


def mount_full(path: Path) -> str | None:
    """A 1 MiB tmpfs filled to the last byte."""
    path.mkdir(parents=True, exist_ok=True)
    reason = _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)])
    if reason is not None:
        return reason
    with contextlib.suppress(OSError), open(path / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()
    with contextlib.suppress(OSError), open(path / "filler2", "wb") as handle:
        while True:  # the last partial block
            handle.write(b"\0")
            handle.flush()
    return None


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


# ---------------------------------------------------------------- running


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise RowTimeout

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _process_state(argv: list[str]) -> Iterator[None]:
    """Restore what a command may change in this process: argv, torch threads, signal handlers, cwd, logging.

    The root logger starts without handlers, as in a fresh process, so a command's log lines reach stderr
    (and count) instead of pytest's log capture.
    """
    saved_argv, threads, cwd = sys.argv[:], torch.get_num_threads(), os.getcwd()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    root = logging.getLogger()
    log_handlers, log_level = root.handlers[:], root.level
    root.handlers = []
    sys.argv = argv
    try:
        yield
    finally:
        root.handlers = log_handlers
        root.setLevel(log_level)
        sys.argv = saved_argv
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        os.chdir(cwd)


def run_in_process(package: str, args: list[str], capfd: Any) -> tuple[int | None, str, str, str | None, bool]:
    """``python -m package args`` in this process: (exit code, stdout, stderr, escaped exception, timed out)."""
    capfd.readouterr()
    code: int | None = None
    exception = None
    timed_out = False
    extra_err = ""
    with _process_state([f"{package}/__main__.py", *args]):
        try:
            with _alarm(ROW_TIMEOUT_S):
                runpy.run_module(package, run_name="__main__", alter_sys=True)
            code = 0  # __main__ returned without sys.exit
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message") prints the message and exits 1
                code, extra_err = 1, f"{exc.code}\n"
        except RowTimeout:
            timed_out = True
        except KeyboardInterrupt:
            code = 130
        except Exception as exc:  # escaped main(): a real process prints a traceback and exits 1
            code, exception = 1, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    out, err = capfd.readouterr()
    return code, out, err + extra_err, exception, timed_out


def run_subprocess(package: str, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str, bool]:
    """``python -m package args`` as a real process; (exit code, stdout, stderr, timed out)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", package, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=ROW_TIMEOUT_S + 30,  # import time of torch + SB3 on a loaded machine
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), str(exc.stderr or ""), True
    return done.returncode, done.stdout, done.stderr, False
