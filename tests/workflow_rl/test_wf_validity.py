"""The simulator against CAGE-2's published scores, and against every constant policy."""

from __future__ import annotations

import numpy as np
import pytest
from workflow_rl.baselines import evaluate_policy, make_baseline
from workflow_rl.sim import N_ACTIONS

# CAGE-2 scores (500 episodes x 100 steps) from the mini_CAGE README of alan-turing-institute/CAGE_2_Fixed.
PUBLISHED = {
    ("bline", "sleep"): -1141,
    ("bline", "react_restore"): -159,
    ("bline", "react_decoy"): -69,
    ("meander", "sleep"): -1067,
    ("meander", "react_restore"): -69,
    ("meander", "react_decoy"): -61,
}


@pytest.mark.parametrize(("red", "blue"), list(PUBLISHED))
def test_published_cage2_cell_within_ten_percent(red, blue):
    score = evaluate_policy(make_baseline(blue), red, episodes=1000, seed=11)["return_mean"]
    published = PUBLISHED[(red, blue)]
    assert abs(score - published) <= 0.10 * abs(published), (red, blue, score, published)


@pytest.mark.parametrize("red", ["bline", "meander"])
def test_no_constant_action_beats_react_restore(red):
    react = evaluate_policy(make_baseline("react_restore"), red, episodes=400, seed=5)["return_mean"]
    scores = {
        action: evaluate_policy(lambda obs, a=action: np.full(len(obs), a), red, episodes=200, seed=5)["return_mean"]
        for action in range(N_ACTIONS)
    }
    best_action = max(scores, key=scores.get)
    assert len(scores) == N_ACTIONS == 53
    assert scores[best_action] < react, (red, best_action, scores[best_action], react)
