"""`python -m workflow_rl train --tensorboard DIR`, both trainers: the episode rows (returns, compliance, PPO
losses and clip statistics), learning rate, env steps per second and the final evaluation, read back."""

from __future__ import annotations

import pytest
from workflow_rl.cli import main

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

PER_EPISODE = ("env_return", "lr", "env_steps_per_s")
PPO = ("policy_loss", "value_loss", "entropy", "clip_fraction", "approx_kl")


@pytest.mark.parametrize("trainer", ["fast", "original"])
def test_train_writes_tensorboard_scalars_per_episode(tmp_path, trainer):
    tb = tmp_path / "tb"
    argv = ["train", "--trainer", trainer, "--n-envs", "4", "--total-episodes", "8", "--max-episodes", "8",
            "--eval-episodes", "20", "--workflow", "user,op_host,op_server,enterprise,defender",
            "--out", str(tmp_path / "run"), "--tensorboard", str(tb)]  # fmt: skip
    assert main(argv) == 0
    acc = event_accumulator.EventAccumulator(str(tb))
    acc.Reload()
    steps = {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    for tag in PER_EPISODE:
        assert steps.get(tag) == list(range(8)), tag
    # An episode's row carries the latest update's statistics: the fast trainer updates every 50 steps, so
    # its first episodes already have one; the original updates at step 100, after the first 4 episodes ended.
    first_with_update = 0 if trainer == "fast" else 4
    for tag in PPO:
        assert steps.get(tag) == list(range(first_with_update, 8)), tag
    assert steps["eval_return"] == [8]  # the final seeded evaluation, after 8 episodes
    assert all(e.value > 0 for e in acc.Scalars("env_steps_per_s"))
    assert all(e.value == pytest.approx(1e-3) for e in acc.Scalars("lr"))
