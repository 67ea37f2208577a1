"""The second-core measurement (issue 17 item 4) and the update's CPU profile the bench reports."""

from __future__ import annotations

import json

import torch
from workflow_rl.cli import main
from workflow_rl.update_profile import PARTS, profile_update


def test_measure_overlap_writes_both_arms_and_the_lagged_arm_really_lags(tmp_path, capsys):
    out = tmp_path / "overlap.json"
    argv = ["measure-overlap", "--n-envs", "4", "--episodes", "8", "--seeds", "1", "--eval-episodes", "8"]
    assert main([*argv, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    serial, overlap = (next(row for row in doc["rows"] if row["arm"] == arm) for arm in ("serial", "overlap"))
    assert serial["updates"] == overlap["updates"] == 4  # 8 episodes x 100 steps / (4 envs x 50 steps)
    assert serial["cpu_s"] > 0 and overlap["cpu_s"] > 0 and "one update old" in doc["policy_lag"]
    # Same seed, same episodes: only the one-update policy lag separates the arms, and it changes the policy.
    assert serial["eval_return"] != overlap["eval_return"]
    assert "load average" in doc["summary"] and doc["machine"]["cpus"] >= 1
    assert str(out) in capsys.readouterr().out


def test_measure_overlap_refuses_a_budget_that_is_not_whole_batches(tmp_path, capsys):
    out = tmp_path / "overlap.json"
    argv = ["measure-overlap", "--n-envs", "4", "--episodes", "6", "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not out.exists()


def test_update_profile_splits_a_minibatch_step_and_leaves_the_thread_count_alone():
    threads = torch.get_num_threads()
    profile = profile_update(4, steps=5)
    assert profile["closed_form"]  # N=4 runs the fused network, whose gradient the fast trainer writes by hand
    assert list(profile["step_cpu_ms_by_part"]) == [PARTS[0], *PARTS[-2:]]
    assert list(profile["autograd_step_cpu_ms_by_part"]) == list(PARTS[1:])
    for parts in (profile["step_cpu_ms_by_part"], profile["autograd_step_cpu_ms_by_part"]):
        assert all(ms >= 0 for ms in parts.values()) and sum(parts.values()) > 0
    assert profile["minibatch"] == 4 * 50 // 4 and profile["minibatch_steps_per_update"] == 16
    assert torch.get_num_threads() == threads


def test_matmul_flop_count_is_torchs_count_of_the_autograd_step():
    from torch.utils.flop_counter import FlopCounterMode
    from workflow_rl.agents import FusedActorCritic
    from workflow_rl.ppo import ppo_loss
    from workflow_rl.update_profile import matmul_flops

    agent, batch = FusedActorCritic(90, 53), 40
    obs, actions = torch.rand(batch, 90), torch.randint(0, 53, (batch,))
    with FlopCounterMode(display=False) as counter:
        loss, _ = ppo_loss(
            agent, obs, actions, torch.zeros(batch), torch.randn(batch), torch.randn(batch), 0.2, 0.5, 0.01
        )
        loss.backward()
    assert counter.get_total_flops() == matmul_flops(batch, 90, 53)
