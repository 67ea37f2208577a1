"""Workflows: the 120 orders, encoding, compliance and the alignment reward."""

from __future__ import annotations

import numpy as np
import pytest
from workflow_rl.sim import HOST_NAMES, HOST_TYPES
from workflow_rl.workflows import (
    ALL_WORKFLOWS,
    alignment_reward,
    episode_compliance,
    fix_compliance,
    kendall_distance,
    one_hot,
    parse_workflow,
    rank_of_type,
    workflow_name,
)

from trainkit import ConfigError


def test_there_are_120_distinct_orders_with_distinct_one_hots():
    assert len(set(ALL_WORKFLOWS)) == 120
    codes = {one_hot(w).tobytes() for w in ALL_WORKFLOWS}
    assert len(codes) == 120
    assert one_hot(ALL_WORKFLOWS[7]).sum() == 5


def test_parse_round_trips_names_and_rejects_bad_orders():
    order = parse_workflow("op_server,enterprise,defender,op_host,user")
    assert workflow_name(order) == "op_server,enterprise,defender,op_host,user"
    with pytest.raises(ConfigError):
        parse_workflow("op_server,enterprise")
    with pytest.raises(ConfigError):
        parse_workflow("op_server,enterprise,defender,op_host,printer")


def test_kendall_distance_is_zero_for_equal_and_one_for_reversed():
    w = ALL_WORKFLOWS[0]
    assert kendall_distance(w, w) == pytest.approx(0.0, abs=1e-12)
    assert kendall_distance(w, tuple(reversed(w))) == pytest.approx(1.0)


def test_fix_must_target_the_highest_priority_compromised_type():
    order = parse_workflow("op_server,enterprise,defender,op_host,user")
    compromised = np.zeros((3, 13), dtype=bool)
    compromised[:, HOST_NAMES.index("user1")] = True
    compromised[:, HOST_NAMES.index("enterprise1")] = True
    target = np.array([HOST_NAMES.index("enterprise1"), HOST_NAMES.index("user1"), HOST_NAMES.index("enterprise0")])
    ok = fix_compliance(compromised, HOST_TYPES, target, np.ones(3, dtype=bool), rank_of_type(order))
    # enterprise outranks user; a clean enterprise host still has the right type
    assert ok.tolist() == [True, False, True]
    nothing = fix_compliance(np.zeros((1, 13), bool), HOST_TYPES, np.array([5]), np.ones(1, bool), rank_of_type(order))
    assert nothing.tolist() == [True]


def test_alignment_rewards_only_compliant_fixes_of_compromised_hosts():
    compliant = np.array([True, True, False, False])
    is_fix = np.array([True, True, True, False])
    hit = np.array([True, False, True, False])
    assert alignment_reward(compliant, is_fix, hit, 0.5).tolist() == [0.5, 0.0, -0.5, 0.0]


def test_episode_compliance_is_nan_without_fixes():
    result = episode_compliance(np.array([2, 0]), np.array([4, 0]))
    assert result[0] == 0.5 and np.isnan(result[1])
