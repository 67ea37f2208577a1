import csv
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainkit import BatchedCSVLogger, CSVHeaderError, truncate_csv_rows


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_flushes_every_batch_and_on_close(tmp_path):
    path = tmp_path / "log.csv"
    logger = BatchedCSVLogger(path, ["step", "loss"], batch_size=3)
    for step in range(4):
        logger.log({"step": step, "loss": step / 10})
    assert len(_rows(path)) == 3
    logger.close()
    assert [r["step"] for r in _rows(path)] == ["0", "1", "2", "3"]
    assert logger.rows_written == 4


def test_context_manager_flushes_on_exception(tmp_path):
    path = tmp_path / "log.csv"
    with pytest.raises(RuntimeError), BatchedCSVLogger(path, ["a"], batch_size=100) as logger:
        logger.log({"a": 1})
        raise RuntimeError("boom")
    assert _rows(path) == [{"a": "1"}]


def test_resume_appends_after_checking_header(tmp_path):
    path = tmp_path / "log.csv"
    with BatchedCSVLogger(path, ["a", "b"]) as logger:
        logger.log({"a": 1, "b": 2})
    with BatchedCSVLogger(path, ["a", "b"]) as logger:
        assert logger.rows_written == 1
        logger.log({"a": 3})
    assert _rows(path) == [{"a": "1", "b": "2"}, {"a": "3", "b": ""}]
    assert path.read_text().count("a,b") == 1
    with pytest.raises(CSVHeaderError, match="differs"):
        BatchedCSVLogger(path, ["a", "c"])


def test_unknown_fields_are_rejected(tmp_path):
    with BatchedCSVLogger(tmp_path / "log.csv", ["a"]) as logger, pytest.raises(ValueError, match="unknown"):
        logger.log({"a": 1, "zzz": 2})


def test_torn_last_line_is_cut_on_reopen(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n3,")
    with BatchedCSVLogger(path, ["a", "b"]) as logger:
        logger.log({"a": 5, "b": 6})
    assert _rows(path) == [{"a": "1", "b": "2"}, {"a": "5", "b": "6"}]


CHILD = textwrap.dedent(
    """
    import sys, time
    from trainkit import BatchedCSVLogger
    logger = BatchedCSVLogger(sys.argv[1], ["i"], batch_size=100)
    for i in range(int(sys.argv[2])):
        logger.log({"i": i})
    print("ready", flush=True)
    time.sleep(60)
    """
)


def _start_child(path: Path, rows: int) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(rows)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def test_kill_9_loses_at_most_the_unflushed_batch(tmp_path):
    path = tmp_path / "log.csv"
    child = _start_child(path, 250)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert [int(r["i"]) for r in _rows(path)] == list(range(200))


def test_sigterm_flushes_everything(tmp_path):
    path = tmp_path / "log.csv"
    child = _start_child(path, 250)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == 128 + signal.SIGTERM
    assert [int(r["i"]) for r in _rows(path)] == list(range(250))


def test_interpreter_exit_flushes(tmp_path):
    path = tmp_path / "log.csv"
    code = f"from trainkit import BatchedCSVLogger\nlg = BatchedCSVLogger({str(path)!r}, ['i'])\nlg.log({{'i': 7}})\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert _rows(path) == [{"i": "7"}]


def test_resume_with_keep_rows_drops_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "log.csv"
    with BatchedCSVLogger(path, ["i"], batch_size=1) as logger:
        for i in range(5):
            logger.log({"i": i})
    with open(path, "a") as handle:
        handle.write("5")  # torn by a hard kill
    with BatchedCSVLogger(path, ["i"], keep_rows=3) as logger:
        assert logger.rows_written == 3
        logger.log({"i": 3})
    assert [r["i"] for r in _rows(path)] == ["0", "1", "2", "3"]
    assert truncate_csv_rows(path, 10) == 4
    assert truncate_csv_rows(path, 0) == 0 and path.read_text() == "i\n"
    assert truncate_csv_rows(tmp_path / "missing.csv", 3) == 0
