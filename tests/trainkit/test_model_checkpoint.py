import pytest
import torch

from trainkit import ConfigError, ModelCheckpoint, load_checkpoint
from trainkit.checkpoint import ModelCheckpoint as FromOldModule


def _names(folder):
    return sorted(p.name for p in folder.glob("*.pt"))


def test_old_import_path_still_works():
    assert FromOldModule is ModelCheckpoint


def test_monitor_keeps_the_top_k_and_a_last(tmp_path):
    saver = ModelCheckpoint(tmp_path, monitor="val_loss", mode="min", save_top_k=2, package="p", kind="train_state")
    losses = {1: 0.9, 2: 0.5, 3: 0.7, 4: 0.8, 5: 0.4, 6: float("nan")}
    for epoch, loss in losses.items():
        saver.update(epoch, {"val_loss": loss}, lambda e=epoch: {"epoch": e})
    assert _names(tmp_path) == ["epoch000002.pt", "epoch000005.pt", "last.pt"]
    assert saver.best_path.name == "epoch000005.pt"
    assert load_checkpoint(saver.last_path, package="p", kind="train_state") == {"epoch": 6}
    assert load_checkpoint(saver.best_path)["epoch"] == 5


def test_max_mode_and_every_n(tmp_path):
    saver = ModelCheckpoint(tmp_path, monitor="acc", mode="max", save_top_k=1, save_last=False, every_n=2)
    calls = []
    for epoch, acc in enumerate([0.1, 0.9, 0.2, 0.3, 0.5], start=1):
        saver.update(epoch, {"acc": acc}, lambda e=epoch: calls.append(e) or {"epoch": e})
    assert calls == [2, 4]
    assert _names(tmp_path) == ["epoch000002.pt"]
    assert saver.last_path.name == "epoch000002.pt"
    with pytest.raises(KeyError, match="monitors 'acc'"):
        saver.update(6, {"loss": 1.0}, dict)


def test_without_monitor_keeps_the_newest(tmp_path):
    saver = ModelCheckpoint(tmp_path, save_top_k=2)
    for epoch in range(1, 5):
        saver.update(epoch, {}, lambda e=epoch: {"epoch": e, "w": torch.full((3,), float(e))})
    assert _names(tmp_path) == ["epoch000003.pt", "epoch000004.pt", "last.pt"]
    assert saver.best_path.name == "epoch000004.pt"
    assert load_checkpoint(saver.last_path)["epoch"] == 4


def test_top_k_zero_writes_only_last_and_minus_one_keeps_all(tmp_path):
    only_last = ModelCheckpoint(tmp_path / "a", monitor="loss", save_top_k=0)
    keep_all = ModelCheckpoint(tmp_path / "b", monitor="loss", save_top_k=-1, save_last=False)
    for epoch in range(1, 4):
        only_last.update(epoch, {"loss": 1.0 / epoch}, lambda e=epoch: {"epoch": e})
        keep_all.update(epoch, {"loss": 1.0 / epoch}, lambda e=epoch: {"epoch": e})
    assert _names(tmp_path / "a") == ["last.pt"] and only_last.best_path is None
    assert len(_names(tmp_path / "b")) == 3 and keep_all.best_path.name == "epoch000003.pt"


def test_resume_restores_scores_and_removes_an_unrecorded_file(tmp_path):
    first = ModelCheckpoint(tmp_path, monitor="loss", save_top_k=2)
    for epoch, loss in [(1, 0.5), (2, 0.3)]:
        first.update(epoch, {"loss": loss}, lambda e=epoch: {"epoch": e, "callback": first.state_dict()})
    resumed_state = load_checkpoint(first.last_path)
    assert set(resumed_state["callback"]["scores"]) == {"epoch000001.pt", "epoch000002.pt"}
    first.update(3, {"loss": 0.1}, lambda: {"epoch": 3, "callback": first.state_dict()})  # then "killed"

    second = ModelCheckpoint(tmp_path, monitor="loss", save_top_k=2)
    second.load_state_dict(resumed_state["callback"])
    assert "epoch000003.pt" not in _names(tmp_path)
    second.update(3, {"loss": 0.4}, lambda: {"epoch": 3})
    assert _names(tmp_path) == ["epoch000002.pt", "epoch000003.pt", "last.pt"]
    assert second.best_path.name == "epoch000002.pt"
    with pytest.raises(ValueError, match="monitor"):
        ModelCheckpoint(tmp_path, monitor="acc").load_state_dict(resumed_state["callback"])


def test_bad_arguments():
    for kwargs in ({"every_n": 0}, {"save_top_k": -2}, {"mode": "best"}, {"filename": "x.pt"}):
        with pytest.raises(ValueError):
            ModelCheckpoint("unused", **kwargs)


def test_a_folder_where_last_pt_belongs_is_refused_before_training(tmp_path):
    (tmp_path / "last.pt").mkdir()
    with pytest.raises(ConfigError, match="found a folder"):
        ModelCheckpoint(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        ModelCheckpoint(tmp_path / "file")
