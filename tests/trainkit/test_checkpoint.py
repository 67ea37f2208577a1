import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from trainkit import CheckpointError, ModelCheckpoint, latest_checkpoint, load_checkpoint, save_checkpoint
from trainkit.checkpoint import require


def test_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    state = {"epoch": 4, "model": model.state_dict(), "history": [1.0, 0.5], "name": "x"}
    path = save_checkpoint(tmp_path / "ckpt.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["history"] == [1.0, 0.5] and loaded["name"] == "x"
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_missing_truncated_and_foreign_files_give_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    good = save_checkpoint(tmp_path / "good.pt", {"w": torch.ones(1000)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("this is not a checkpoint")
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": torch.ones(2)}, foreign)
    for path in (truncated, garbage, foreign):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_pickled_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"trainkit_checkpoint": 1, "state": {"f": print}}, evil)
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)


class _ExplodesWhilePickled:
    def __reduce__(self):
        raise RuntimeError("crash in the middle of a save")


def test_crash_during_save_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.zeros(10_000)})
    with pytest.raises(RuntimeError, match="crash in the middle"):
        save_checkpoint(path, {"epoch": 2, "w": torch.ones(10_000), "bad": _ExplodesWhilePickled()})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


SAVER = textwrap.dedent(
    """
    import sys, torch
    from trainkit import save_checkpoint
    path = sys.argv[1]
    save_checkpoint(path, {"epoch": 0, "w": torch.zeros(4_000_000)})
    print("ready", flush=True)
    epoch = 1
    while True:
        save_checkpoint(path, {"epoch": epoch, "w": torch.full((4_000_000,), float(epoch))})
        epoch += 1
    """
)


def test_kill_9_during_saves_never_leaves_a_broken_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    state = load_checkpoint(path)
    assert torch.all(state["w"] == float(state["epoch"]))
    assert latest_checkpoint(tmp_path) == path


def test_latest_checkpoint_orders_by_number_and_ignores_temp_files(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    for epoch in (2, 10, 9):
        save_checkpoint(tmp_path / f"epoch{epoch}.pt", {"epoch": epoch})
    (tmp_path / ".epoch99.pt.abc.tmp").write_text("partial")
    assert latest_checkpoint(tmp_path).name == "epoch10.pt"


def test_model_checkpoint_cadence_and_pruning(tmp_path):
    saver = ModelCheckpoint(tmp_path, every_n=2, save_top_k=2, save_last=False)
    calls = []

    def state(epoch):
        calls.append(epoch)
        return {"epoch": epoch}

    for epoch in range(1, 8):
        saver.maybe_save(epoch, lambda e=epoch: state(e))
    assert calls == [2, 4, 6]
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch000004.pt", "epoch000006.pt"]
    assert saver.maybe_save(7, lambda: {"epoch": 7}, force=True).name == "epoch000007.pt"
    assert load_checkpoint(saver.latest())["epoch"] == 7


def test_model_checkpoint_never_prunes_files_it_did_not_write(tmp_path):
    save_checkpoint(tmp_path / "brain.pt", {"keep": True})
    saver = ModelCheckpoint(tmp_path, every_n=1, save_top_k=1, save_last=False)
    for epoch in range(1, 4):
        saver.save(epoch, {"epoch": epoch})
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["brain.pt", "epoch000003.pt"]
    assert saver.latest().name == "epoch000003.pt"


def test_identity_is_recorded_and_checked(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", {"epoch": 3}, package="neuro_gym", kind="train_state")
    assert load_checkpoint(path, package="neuro_gym", kind="train_state") == {"epoch": 3}
    assert load_checkpoint(path) == {"epoch": 3}
    with pytest.raises(CheckpointError, match="a package 'neuro_gym' checkpoint, not 'workflow_rl'"):
        load_checkpoint(path, package="workflow_rl")
    with pytest.raises(CheckpointError, match="a kind 'train_state' checkpoint, not 'policy'"):
        load_checkpoint(path, package="neuro_gym", kind="policy")
    anonymous = save_checkpoint(tmp_path / "anon.pt", {"epoch": 1})
    with pytest.raises(CheckpointError, match="does not record its package"):
        load_checkpoint(anonymous, package="neuro_gym")
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "bad.pt", {}, package=3)


def test_version_1_files_still_load_without_identity(tmp_path):
    old = tmp_path / "v1.pt"
    torch.save({"trainkit_checkpoint": 1, "state": {"epoch": 2}}, old)
    assert load_checkpoint(old) == {"epoch": 2}
    with pytest.raises(CheckpointError, match="does not record its kind"):
        load_checkpoint(old, kind="train_state")
    future = tmp_path / "v99.pt"
    torch.save({"trainkit_checkpoint": 99, "state": {}}, future)
    with pytest.raises(CheckpointError, match="unknown format"):
        load_checkpoint(future)


def test_require_gives_one_line_for_missing_and_mistyped_keys():
    state = {"epoch": 3, "lr": 1, "name": "x", "flag": True, "w": torch.ones(2)}
    assert require(state, "epoch", int) == 3
    assert require(state, "lr", float) == 1.0 and isinstance(require(state, "lr", float), float)
    assert torch.equal(require(state, "w", torch.Tensor), torch.ones(2))
    assert require(state, "name", (str, type(None))) == "x"
    with pytest.raises(CheckpointError, match=r"^run.pt: checkpoint has no 'optimizer'"):
        require(state, "optimizer", dict, source="run.pt")
    with pytest.raises(CheckpointError, match="'name' is a str, expected int"):
        require(state, "name", int)
    with pytest.raises(CheckpointError, match="'flag' is a bool, expected int"):
        require(state, "flag", int)
    with pytest.raises(CheckpointError, match="not a mapping"):
        require([1], "x", int)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creates the marker file if anything unpickles this


def test_planted_payload_does_not_run(tmp_path):
    marker = tmp_path / "payload_ran"
    planted = tmp_path / "planted.pt"
    torch.save({"trainkit_checkpoint": 2, "package": "p", "kind": "k", "state": {"x": _Payload(marker)}}, planted)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(planted, package="p", kind="k")
    assert not marker.exists()
