"""The bad-input table's fixtures (valid inputs, real checkpoints) and its one-line summary.

After a session that ran table rows, the terminal summary prints one line::

    bad-input table: 230 rows, 230 passed, 0 tracebacks, 0 silent acceptances, 0 changed files, 0 payloads run, ...

then one line per package. With ``BAD_INPUT_REPORT=path.json`` set, the same counts and every failing row are
also written there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # bad_input_table / bad_input_runner (tests is not a package)

from bad_input_runner import OUTCOMES, PROCESS_OUTCOMES, Outcome
from bad_input_table import BASES, ROWS


def _run(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "CI": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid inputs and real checkpoints, made once by the packages' own commands (in parallel).

    ``{data}``: an early_inference dataset; ``{run}``: an early_inference run trained on it (its checkpoint is
    the foreign file given to neuro_gym); a neuro_gym checkpoint (the foreign file given to the others);
    ``{csv}``: synthetic gold bars.
    """
    root = tmp_path_factory.mktemp("bad_input_assets")
    ng = _run(["neuro_gym", "train", "--task", "xor", "--max-epochs", "3", "--checkpoint-dir", "ng"], root)
    csv = _run(["ppo_trading", "generate-data", "--n_bars", "4000", "--seed", "7", "--out", "gold.csv"], root)
    gen = [
        "early_inference", "generate", "--simulator", "linear_gaussian", "--n-train", "64", "--n-val", "32",
        "--n-test", "32", "--prefix-lengths", "10", "--workers", "1", "--cache-dir", "cache",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", *gen],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CI": "1"},
    )
    assert done.returncode == 0, f"early_inference generate failed: {done.stderr[-2000:]}"
    data = next((root / "cache").glob("*.npz"))
    train = [
        "early_inference", "train", "--data", str(data), "--prefix-length", "10", "--profile", "ci",
        "--epochs", "2", "--run-dir", "run", "--threads", "1", "--device", "cpu",
    ]  # fmt: skip
    ei = _run(train, root)
    for name, proc in (("neuro_gym", ng), ("ppo_trading generate-data", csv), ("early_inference train", ei)):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name} failed while making test assets:\n{out[-2000:]}"
    ei_checkpoint = max((root / "run").glob("*.pt"))
    return {
        "csv": root / "gold.csv",
        "data": data,
        "run": root / "run",
        "foreign:neuro_gym": root / "ng" / "last.pt",
        "foreign:early_inference": ei_checkpoint,
    }


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    ran = [o for o in outcomes if o.skipped is None]
    return {
        "rows": len(outcomes),
        "passed": sum(not o.problems() for o in ran),
        "tracebacks": sum(o.traceback for o in ran),
        "silent acceptances": sum(o.silent for o in ran),
        "changed files": sum(bool(o.changed) for o in ran),
        "payloads run": sum(o.payload_ran for o in ran),
        "other failures": sum(bool(o.problems()) and not (o.traceback or o.silent or o.changed) for o in ran),
        "skipped": len(outcomes) - len(ran),
    }


def _line(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {key}" for key, value in counts.items())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not OUTCOMES and not PROCESS_OUTCOMES:
        return
    by_package: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in OUTCOMES:
        by_package[outcome.row.package].append(outcome)
    total = _counts(OUTCOMES)
    processes = _counts(PROCESS_OUTCOMES)
    write = terminalreporter.write_line
    write(
        f"bad-input table: {_line(total)} (of {len(ROWS)} in the table); as processes: "
        f"{processes['passed']}/{processes['rows'] - processes['skipped']} passed"
    )
    for package in sorted(by_package):
        write(f"  {package}: {_line(_counts(by_package[package]))}")
    categories = Counter(o.row.category for o in OUTCOMES if o.problems() and o.skipped is None)
    if categories:
        write("  failing rows by category: " + ", ".join(f"{k} {v}" for k, v in categories.most_common()))
    report = os.environ.get("BAD_INPUT_REPORT")
    if report:
        doc = {
            "command": "pytest tests/bad_input",
            "total": total,
            "processes": processes,
            "packages": {package: _counts(items) for package, items in sorted(by_package.items())},
            "failing": [o.summary() for o in OUTCOMES + PROCESS_OUTCOMES if o.skipped is None and o.problems()],
            "skipped": [f"{o.row.id}: {o.skipped}" for o in OUTCOMES if o.skipped],
            "bases": {package: list(argv) for package, argv in BASES.items()},
        }
        Path(report).write_text(json.dumps(doc, indent=2) + "\n")
        write(f"  wrote {report}")
