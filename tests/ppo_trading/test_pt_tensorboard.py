"""`python -m ppo_trading train --tensorboard DIR`: SB3's own scalars per candidate (losses, learning rate,
fps) and the walk-forward log per iteration (validation score, learning rate, env steps per second)."""

from __future__ import annotations

import pytest
from ppo_trading.cli import main as package_main
from ppo_trading.data import generate_synthetic_xauusd, write_ohlc_csv
from ppo_trading.train_cli import build_parser

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(folder):
    acc = event_accumulator.EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_train_writes_sb3_and_walk_forward_scalars(tmp_path):
    csv = write_ohlc_csv(generate_synthetic_xauusd(4_000, 7), tmp_path / "bars.csv")
    tb = tmp_path / "tb"
    argv = ["train", "--data_path", str(csv), "--preset", "ci", "--iterations", "2", "--seed", "3", "--verbose", "0",
            "--results_dir", str(tmp_path / "r"), "--tensorboard", str(tb)]  # fmt: skip
    assert package_main(argv) == 0
    walk_forward = _scalars(tb / "walk_forward")
    for tag in ("val_score", "learning_rate", "env_steps_per_s", "env_steps", "train_s"):
        assert walk_forward[tag] == [0, 1], tag  # one row per iteration (one candidate each)
    runs = sorted(p.name for p in tb.iterdir() if p.name != "walk_forward")
    assert runs == ["iter000_cand0_1", "iter001_cand0_1"]
    for run in runs:
        sb3 = _scalars(tb / run)
        # ci: 512 env steps = two 256-step rollouts; SB3 dumps after each, the losses of the first update once
        assert sb3["time/fps"] == [256, 512], run
        for tag in ("train/policy_gradient_loss", "train/value_loss", "train/entropy_loss", "train/learning_rate"):
            assert sb3[tag] == [512], (run, tag)


def test_the_design_document_scripts_take_the_flag_too():
    for prog, original in (("train-ppo", True), ("train-ppo-optimized", False)):
        args = build_parser(prog, original_by_default=original).parse_args(["--tensorboard", "tb"])
        assert args.tensorboard == "tb"  # validated (and created) only when the run starts, like --results_dir
