"""The scripted baselines land in CAGE-2's bands against bline (and sleep against meander)."""

from __future__ import annotations

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
