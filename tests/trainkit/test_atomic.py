import json
import os
import stat

import pytest

from trainkit import atomic_write, write_json


def test_atomic_write_replaces_and_uses_normal_file_mode(tmp_path):
    target = tmp_path / "sub" / "result.json"
    with atomic_write(target) as handle:
        handle.write("{}")
    assert target.read_text() == "{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_write_yields_a_plain_io_object(tmp_path):
    import io

    with atomic_write(tmp_path / "blob.bin", "wb") as handle:
        assert isinstance(handle, io.BufferedWriter)
        handle.write(b"x")
    assert (tmp_path / "blob.bin").read_bytes() == b"x"


def test_remove_stale_temp_files_deletes_only_atomic_write_leftovers(tmp_path):
    from trainkit.atomic import remove_stale_temp_files

    (tmp_path / "sub").mkdir()
    for name in (".last.pt.ab12.tmp", "sub/.log.csv.cd34.tmp"):
        (tmp_path / name).write_text("torn")
    (tmp_path / "last.pt").write_text("kept")
    assert remove_stale_temp_files(tmp_path) == 1
    assert (tmp_path / "sub" / ".log.csv.cd34.tmp").exists()
    assert remove_stale_temp_files(tmp_path, recursive=True) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["last.pt", "sub"]
    assert remove_stale_temp_files(tmp_path / "missing") == 0


def test_write_json_round_trips_and_an_unserialisable_payload_leaves_the_old_file(tmp_path):
    path = tmp_path / "out" / "report.json"
    assert write_json(path, {"a": [1, 2.5], "b": "x"}) == path
    assert json.loads(path.read_text()) == {"a": [1, 2.5], "b": "x"}
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": [1, 2.5], "b": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
