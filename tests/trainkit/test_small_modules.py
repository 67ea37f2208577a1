import io
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from trainkit import ConfigError, DataError, Stopwatch, resolve_device, run_cli, seed_everything
from trainkit.progress import in_ci, progress_bar
from trainkit.timing import measure


def test_stopwatch_sections_totals_and_shares():
    sw = Stopwatch()
    with sw.section("env_step"):
        sum(range(10_000))
    sw.add("update", 3.0)
    sw.add("update", 1.0)
    totals = sw.totals()
    assert totals["update"] == 4.0 and totals["env_step"] > 0
    assert sw.counts() == {"env_step": 1, "update": 2}
    assert sum(sw.shares().values()) == pytest.approx(1.0)
    assert sw.report().splitlines()[1].startswith("update")


def test_section_records_time_even_on_exception():
    sw = Stopwatch()
    with pytest.raises(ValueError), sw.section("boom"):
        raise ValueError
    assert sw.counts()["boom"] == 1


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        rng = seed_everything(123)
        return random.random(), np.random.rand(), torch.rand(1).item(), rng.random()

    assert draw() == draw()
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu9")


def test_progress_is_off_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with progress_bar(range(3)) as bar:
        assert bar.disable
        assert list(bar) == [0, 1, 2]
    with progress_bar(range(3), disable=False) as bar:
        assert bar.disable, "an explicit disable=False must not force bars on in CI"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_follows_tqdm_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not in_ci()
    with progress_bar(range(2), file=io.StringIO()) as bar:
        assert not bar.disable and bar.mininterval >= 1, "not a terminal: plain lines at a steady interval"
    with progress_bar(range(2), file=_Terminal()) as bar:
        assert not bar.disable
    with progress_bar(range(2), file=_Terminal(), disable=True) as bar:
        assert bar.disable


def test_tqdm_disable_is_honoured():
    code = (
        "import io; from trainkit.progress import progress_bar\n"
        "class T(io.StringIO):\n    def isatty(self): return True\n"
        "print(bool(progress_bar(range(2), file=T()).disable))"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    off = subprocess.run(
        [sys.executable, "-c", code], env={**env, "TQDM_DISABLE": "1"}, capture_output=True, text=True, check=True
    )
    assert (on.stdout.strip(), off.stdout.strip()) == ("False", "True")


def test_run_cli_turns_user_errors_into_one_line(capsys):
    def bad(argv):
        raise DataError("data.csv: row 7: high < low\nsecond line")

    assert run_cli(bad, [], prog="tool") == 2
    assert capsys.readouterr().err == "tool: error: data.csv: row 7: high < low\n"
    assert run_cli(lambda argv: None, []) == 0
    assert run_cli(lambda argv: 3, []) == 3

    def bug(argv):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_cli(bug, [])


def test_measure_counts_a_joined_childs_cpu_and_returns_the_result():
    def spin_child() -> int:
        child = mp.get_context("fork").Process(target=_spin, args=(0.3,))
        child.start()
        child.join()
        return 7

    result, wall, cpu = measure(spin_child)
    assert result == 7
    assert cpu >= 0.2  # the parent only waits: the CPU seen is the child's
    assert wall >= cpu * 0.5 and wall < 30
    _, _, idle_cpu = measure(lambda: time.sleep(0.2))
    assert idle_cpu < 0.1


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
