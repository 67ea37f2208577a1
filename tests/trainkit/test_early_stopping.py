import math

import pytest

from trainkit import EarlyStopping


def test_min_mode_stops_after_patience_without_improvement():
    stopper = EarlyStopping("val_loss", patience=3, mode="min", min_delta=0.1)
    assert [stopper.should_stop(v) for v in (1.0, 0.8, 0.75, 0.79)] == [False] * 4
    assert stopper.best == 0.8 and stopper.wait == 2
    assert stopper.should_stop(0.71) is True
    assert "val_loss" in stopper.reason and "0.8" in stopper.reason


def test_max_mode_improvement_resets_wait():
    stopper = EarlyStopping("acc", patience=2, mode="max")
    assert not stopper.should_stop(0.5)
    assert not stopper.should_stop(0.5)
    assert stopper.wait == 1
    assert not stopper.should_stop(0.6)
    assert stopper.wait == 0 and stopper.best == 0.6
    assert not stopper.should_stop(0.6)
    assert stopper.should_stop(0.59)


def test_patience_zero_disables_but_non_finite_still_stops():
    stopper = EarlyStopping("loss", patience=0)
    assert not any(stopper.should_stop(1.0) for _ in range(100))
    assert stopper.should_stop(math.nan)
    assert "not finite" in stopper.reason


def test_non_finite_check_can_be_turned_off():
    stopper = EarlyStopping("loss", patience=0, check_finite=False)
    assert not stopper.should_stop(math.inf)


def test_accepts_metrics_mapping_and_rejects_missing_key():
    stopper = EarlyStopping("val_loss", patience=1)
    assert not stopper.should_stop({"val_loss": 1.0, "other": 3})
    with pytest.raises(KeyError, match="val_loss"):
        stopper.should_stop({"loss": 1.0})


def test_state_dict_round_trip_continues_the_count():
    first = EarlyStopping("loss", patience=3)
    for v in (1.0, 1.0, 1.0):
        first.should_stop(v)
    resumed = EarlyStopping("loss", patience=3)
    resumed.load_state_dict(first.state_dict())
    assert resumed.wait == 2 and resumed.best == 1.0
    assert resumed.should_stop(1.0) is True
    with pytest.raises(ValueError, match="monitors"):
        EarlyStopping("acc", patience=3).load_state_dict(first.state_dict())


@pytest.mark.parametrize("kwargs", [{"mode": "up"}, {"patience": -1}, {"min_delta": -0.1}])
def test_invalid_configuration_is_rejected(kwargs):
    args = {"monitor": "loss", "patience": 1, "mode": "min"} | kwargs
    with pytest.raises(ValueError):
        EarlyStopping(**args)
