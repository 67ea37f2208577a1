"""The scripted baselines land in CAGE-2's bands against bline (and sleep against meander)."""

from __future__ import annotations

import numpy as np
import pytest
from workflow_rl.baselines import evaluate_policy, make_baseline
from workflow_rl.workflows import parse_workflow

from trainkit import ConfigError

WORKFLOW = parse_workflow("op_server,enterprise,defender,op_host,user")


@pytest.mark.parametrize(
    ("red", "policy", "low", "high"),
    [
        ("bline", "sleep", -1200, -1050),  # CAGE-2: -1141
        ("bline", "react_restore", -200, -110),  # CAGE-2: -159
        ("bline", "random", -1100, -500),
        ("meander", "sleep", -1120, -1000),  # CAGE-2: -1067
    ],
)
def test_baseline_in_cage2_band(red, policy, low, high):
    score = evaluate_policy(make_baseline(policy, seed=1), red, WORKFLOW, episodes=400, seed=1)
    assert low <= score["return_mean"] <= high


def test_workflow_greedy_complies_more_than_random():
    greedy = evaluate_policy(make_baseline("workflow_greedy"), "meander", WORKFLOW, episodes=200)
    random = evaluate_policy(make_baseline("random"), "meander", WORKFLOW, episodes=200)
    assert greedy["compliance"] > 0.8 > random["compliance"]


def test_unknown_baseline_is_a_config_error():
    with pytest.raises(ConfigError):
        make_baseline("oracle")


def _observed_violations(policy_name: str, red: str, workflow: tuple[int, ...]) -> tuple[int, int]:
    """Fixes whose target is not the top-priority type among the hosts blue's observation shows compromised."""
    from workflow_rl.baselines import _seen_compromised, host_ranks
    from workflow_rl.sim import NetDefenseSim, decode_actions

    policy = make_baseline(policy_name)
    sim = NetDefenseSim(200, red, workflow, seed=4)
    obs = sim.reset()
    fixes = violations = 0
    for _ in range(100):
        actions = policy(obs)
        kind, host = decode_actions(actions)
        is_fix = (kind == 2) | (kind == 3)
        rank = host_ranks(obs)
        top = np.where(_seen_compromised(obs), rank, 99).min(axis=1)
        target_rank = np.take_along_axis(rank, host[:, None], axis=1)[:, 0]
        fixes += int(is_fix.sum())
        violations += int((is_fix & (target_rank != top)).sum())
        obs, *_ = sim.step(actions)
    return fixes, violations


REVERSED = WORKFLOW[::-1]
SHUFFLED = tuple(np.random.default_rng(17).permutation(5).tolist())


@pytest.mark.parametrize("workflow", [WORKFLOW, REVERSED, SHUFFLED])
@pytest.mark.parametrize("red", ["bline", "meander"])
def test_workflow_greedy_fixes_follow_the_workflow_on_what_blue_observes(red, workflow):
    fixes, violations = _observed_violations("workflow_greedy", red, workflow)
    assert fixes > 100 and violations == 0


@pytest.mark.parametrize("workflow", [WORKFLOW, REVERSED, SHUFFLED])
def test_workflow_greedy_picks_the_top_type_among_several_known_hosts(workflow):
    from workflow_rl.sim import HOST_TYPES, NetDefenseSim
    from workflow_rl.workflows import rank_of_type

    sim = NetDefenseSim(1, "sleep", workflow, seed=0)
    sim.reset()
    known = [1, 4, 5, 9]  # enterprise0, op_server0, op_host0, user1: four unit types
    sim.known[0, known] = 1
    action = make_baseline("workflow_greedy")(sim.observe())[0]
    best = min(known, key=lambda h: rank_of_type(workflow)[HOST_TYPES[h]])
    assert action == 1 + 2 * 13 + best


@pytest.mark.parametrize("workflow", [REVERSED, SHUFFLED])
@pytest.mark.parametrize("red", ["bline", "meander"])
def test_workflow_greedy_is_fully_compliant_when_blue_sees_every_exploit(red, workflow):
    from workflow_rl.sim import SimParams

    score = evaluate_policy(
        make_baseline("workflow_greedy"), red, workflow, 300, seed=2, params=SimParams(p_detect=1.0)
    )
    assert score["compliance"] == 1.0


def test_workflow_greedy_differs_measurably_from_react_restore():
    greedy = evaluate_policy(make_baseline("workflow_greedy"), "bline", REVERSED, episodes=300, seed=3)
    react = evaluate_policy(make_baseline("react_restore"), "bline", REVERSED, episodes=300, seed=3)
    assert greedy["compliance"] > react["compliance"] + 0.2
    assert abs(greedy["return_mean"] - react["return_mean"]) > 20
