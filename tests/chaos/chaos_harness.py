"""Kill a training command at moments chosen from its progress, resume it, and compare with an uninterrupted run.

A *progress event* is any change the command makes in its run folder (a file created, grown, replaced), seen by
polling every few milliseconds. The uninterrupted reference run counts its events; each interrupted attempt
waits for its k-th event (k drawn from a seeded RNG, whose seed the test prints), then a random fraction of a
typical gap between events, then sends the signal. Each command runs as a session leader in its own mount
namespace with a private ``/dev/shm`` (a folder the test can read afterwards), so leftover shared-memory
segments and orphaned workers are attributed to this run and no other.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

POLL_S = 0.005
WAIT_EXIT_S = 120.0
RUN_TIMEOUT_S = 300.0
# Keys and columns that measure time: they differ between any two runs, interrupted or not.
TIMING = re.compile(
    r"(^|_)(ms|s|sec|secs|seconds|time|times|elapsed|wall|cpu|clock|timestamp|fps|per_s|speedup|throughput|"
    r"duration|hours|saved|started|finished|date)($|_)"
)
SCHEDULE = ("SIGKILL",) * 5 + ("SIGTERM", "SIGINT")


@dataclass
class Case:
    """One package's train command at ci size and what to compare at its end."""

    package: str
    command: str  # `python -m` arguments, shell-quoted; relative paths (the case folder is the cwd)
    run_dir: str  # the folder the command writes (relative)
    compare: Sequence[str]  # files (globs) under run_dir that must be identical to the reference's
    ignore: frozenset[str] = frozenset()  # more keys/columns that may differ (besides TIMING)
    setup: Callable[[Path], None] | None = None  # writes the inputs into the case folder


@dataclass
class Attempt:
    signal: str
    target_event: int
    extra_delay_s: float
    events_seen: int = 0
    sent: bool = False
    returncode: int | None = None
    orphans: list[str] = field(default_factory=list)
    output: str = ""


# ---------------------------------------------------------------- processes


def _private_shm_command(argv: Sequence[str], shm_dir: Path) -> tuple[list[str], bool]:
    """Wrap ``argv`` to run with ``shm_dir`` bind-mounted on /dev/shm (a private mount namespace), if possible."""
    inner = [sys.executable, "-m", *argv]
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return inner, False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return inner, False
    script = 'mount --bind "$0" /dev/shm && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(shm_dir), *inner], True


def start(argv: Sequence[str], cwd: Path, shm_dir: Path, log: Path) -> tuple[subprocess.Popen, bool]:
    command, private = _private_shm_command(argv, shm_dir)
    env = {**os.environ, "CI": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    handle = open(log, "ab")  # noqa: SIM115 (closed by the caller's wait)
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    return proc, private


def session_members(sid: int) -> list[str]:
    """Live processes of session ``sid`` (a killed leader's workers keep its session id)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(f"{entry.name} {stat[stat.index('(') + 1 : stat.rindex(')')]}")
    return found


def kill_session(sid: int) -> None:
    """Clean up after a failed check: SIGKILL what is left of the session this test started."""
    for member in session_members(sid):
        pid = int(member.split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_orphans(sid: int, grace_s: float = 3.0) -> list[str]:
    """Processes of the session still alive ``grace_s`` after its leader exited (then killed)."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        members = session_members(sid)
        if not members:
            return []
        time.sleep(0.05)
    members = session_members(sid)
    kill_session(sid)
    return members


# ---------------------------------------------------------------- progress


def fs_state(root: Path) -> frozenset[tuple[str, int, int]]:
    found = set()
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            found.add((path, info.st_size, info.st_mtime_ns))
    return frozenset(found)


def run_watching(proc: subprocess.Popen, run_dir: Path, stop_at: int | None, delay_s: float) -> tuple[int, list[float]]:
    """Poll ``run_dir`` until the process exits or (``stop_at``) that many events were seen plus ``delay_s``.

    Returns (events seen, event times since start).
    """
    started = time.monotonic()
    last = fs_state(run_dir)
    times: list[float] = []
    fire_at = None
    while proc.poll() is None:
        now_state = fs_state(run_dir)
        if now_state != last:
            last = now_state
            times.append(time.monotonic() - started)
            if stop_at is not None and len(times) >= stop_at and fire_at is None:
                fire_at = time.monotonic() + delay_s
        if fire_at is not None and time.monotonic() >= fire_at:
            break
        if time.monotonic() - started > RUN_TIMEOUT_S:
            break
        time.sleep(POLL_S)
    return len(times), times


def plan(rng: random.Random, reference_events: int, gaps: list[float]) -> list[tuple[str, int, float]]:
    """(signal, k-th event of that attempt, extra delay) for each interruption, drawn from the seeded RNG.

    Moments are increasing fractions of the reference's progress (up to 90%); since each attempt resumes near
    where the last one stopped, an attempt waits for the events between its fraction and the previous one.
    """
    typical_gap = sorted(gaps)[len(gaps) // 2] if gaps else 0.05
    fractions = sorted(rng.uniform(0.02, 0.9) for _ in SCHEDULE)
    previous, moments = 0.0, []
    for name, fraction in zip(SCHEDULE, fractions):
        moments.append((name, max(1, round((fraction - previous) * reference_events)), rng.uniform(0.0, typical_gap)))
        previous = fraction
    return moments


# ---------------------------------------------------------------- comparing results


def _normalize(value: Any, ignore: frozenset[str], roots: Sequence[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _normalize(v, ignore, roots) for k, v in value.items() if not _skipped(str(k), ignore)}
    if isinstance(value, (list, tuple)):
        return [_normalize(v, ignore, roots) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<ROOT>")
        return value
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _skipped(key: str, ignore: frozenset[str]) -> bool:
    return key in ignore or bool(TIMING.search(key.lower()))


def load_comparable(path: Path, ignore: frozenset[str], root: Path) -> Any:
    roots = [str(root), str(root.resolve())]
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [_normalize(dict(row), ignore, roots) for row in rows]
    if path.suffix == ".json":
        import json

        return _normalize(json.loads(path.read_text()), ignore, roots)
    if path.suffix in (".pt", ".pth"):
        return _normalize(torch.load(path, map_location="cpu", weights_only=True), ignore, roots)
    return path.read_bytes()


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two normalized values first differ, in words (None when equal)."""
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{where}: keys differ: {sorted(map(str, a.keys() ^ b.keys()))[:6]}"
        for key in a:
            found = first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(a, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: tensor {a.dtype} {tuple(a.shape)} vs {b.dtype} {tuple(b.shape)}"
        if torch.equal(a, b) or (
            a.is_floating_point() and torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
        ):
            return None
        gap = (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
        return f"{where}: tensors differ (max |difference| {gap:.3g})"
    return None if a == b else f"{where}: {str(a)[:80]} vs {str(b)[:80]}"


def compare_runs(case: Case, reference: Path, candidate: Path) -> list[str]:
    """Differences between the reference's and the candidate's compared files (empty when identical)."""
    problems = []
    for pattern in case.compare:
        ref_files = sorted(p.relative_to(reference) for p in (reference / case.run_dir).glob(pattern))
        got_files = sorted(p.relative_to(candidate) for p in (candidate / case.run_dir).glob(pattern))
        if not ref_files:
            problems.append(f"{pattern}: the reference run wrote no such file")
            continue
        if ref_files != got_files:
            problems.append(f"{pattern}: files {list(map(str, ref_files))} vs {list(map(str, got_files))}")
            continue
        for rel in ref_files:
            a = load_comparable(reference / rel, case.ignore, reference)
            b = load_comparable(candidate / rel, case.ignore, candidate)
            found = first_difference(a, b, str(rel))
            if found and rel.suffix == ".csv" and a and b and len(a) != len(b):
                found += _row_story(a, b)
            if found:
                problems.append(found)
    return problems


def _row_story(reference: list[dict], got: list[dict]) -> str:
    """Which rows (by the first column, e.g. epoch) a log lost or repeated."""
    key = next(iter(reference[0]))
    want = [row.get(key) for row in reference]
    have = [row.get(key) for row in got]
    missing = [v for v in want if v not in have]
    repeated = sorted({v for v in have if have.count(v) > 1})
    return f" ({key}: missing {missing[:12]}{'...' if len(missing) > 12 else ''}, repeated {repeated[:12]})"


def leftovers(root: Path) -> list[str]:
    """Temp files from atomic writes (``*.tmp``, ``.tmp*``) left anywhere under ``root``."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and (".tmp" in p.name or p.suffix == ".tmp")
    )
