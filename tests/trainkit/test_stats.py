"""trainkit.stats: the interval methods against known cases, and the rule that n < 10 gives no verdict word."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainkit.stats import (
    MIN_PAIRS_FOR_VERDICT,
    Margin,
    judge_quality,
    judge_speed,
    opponent_clause,
    paired_interval,
    ratio_interval,
    strongest_opponent,
)


def test_t_interval_of_three_deltas_matches_the_textbook_value():
    # mean 2, sd 1, n 3: 2 ± t(0.975, 2) / sqrt(3) = 2 ± 4.302653 * 0.577350 = [-0.484138, 4.484138]
    interval = paired_interval([1.0, 2.0, 3.0])
    assert interval["method"] == "paired t-interval of the mean" and interval["n"] == 3
    assert interval["center"] == pytest.approx(2.0)
    assert interval["low"] == pytest.approx(-0.484138, abs=1e-6)
    assert interval["high"] == pytest.approx(4.484138, abs=1e-6)


def test_bca_from_twenty_pairs_brackets_the_mean_and_repeats():
    values = list(np.random.default_rng(3).normal(1.0, 0.5, size=25))
    interval = paired_interval(values)
    assert interval["method"].startswith("BCa bootstrap") and interval["n"] == 25
    assert interval["low"] < np.mean(values) < interval["high"]
    assert paired_interval(values) == interval  # seeded: the same figures twice


def test_too_few_pairs_and_constant_pairs():
    assert paired_interval([0.5]) is None
    assert paired_interval([]) is None
    flat = paired_interval([0.2, 0.2, 0.2])
    assert flat["low"] == flat["high"] == pytest.approx(0.2)


def test_ratio_interval_is_the_geometric_mean_with_a_log_t_interval():
    interval = ratio_interval([2.0, 8.0])
    assert interval["center"] == pytest.approx(4.0)
    half = 12.706205 * math.log(4.0) / math.sqrt(2) / math.sqrt(2)  # sd of logs = ln(4)/sqrt(2)
    assert interval["low"] == pytest.approx(4.0 * math.exp(-half), rel=1e-5)


@pytest.mark.parametrize("n", [2, 3, 9])
def test_fewer_than_ten_pairs_never_read_better_or_non_inferior(n):
    deltas = [1.0 + 0.01 * i for i in range(n)]  # a large, tight improvement
    words = judge_quality(paired_interval(deltas), higher_is_better=True, margin=0.1)
    assert words == f"quality inconclusive (n = {n} < {MIN_PAIRS_FOR_VERDICT} paired seeds)"


def test_ten_pairs_give_the_words():
    better = [1.0 + 0.01 * i for i in range(10)]
    assert judge_quality(paired_interval(better), True, 0.1) == "quality better"
    assert judge_quality(paired_interval([-x for x in better]), True, 0.1) == "quality worse"
    assert judge_quality(paired_interval([-x for x in better]), False, 0.1) == "quality better"  # lower is better
    near = [0.01 * (i - 4.5) for i in range(10)]
    assert judge_quality(paired_interval(near), True, 0.1) == "quality non-inferior"
    wide = [(-1) ** i * (0.5 + i) for i in range(10)]
    assert judge_quality(paired_interval(wide), True, 0.1) == "quality inconclusive"


def test_speed_words_need_the_whole_interval_past_the_band():
    assert judge_speed(ratio_interval([1.06, 1.0]), 1.03, 1.03).startswith("speed inconclusive")
    assert judge_speed(ratio_interval([3.0, 3.1, 2.9]), 3.0, 3.0) == "faster"
    assert judge_speed(ratio_interval([0.5, 0.52]), 0.51, 0.51) == "slower"
    assert judge_speed(ratio_interval([1.0, 1.01, 0.99]), 1.0, 1.0) == "about as fast"
    assert judge_speed(ratio_interval([3.0, 3.1]), 3.05, 0.5) == "faster in wall time only (more CPU seconds)"


def test_margin_needs_a_reason_and_scales_when_relative():
    with pytest.raises(ValueError, match="reason"):
        Margin(0.1, " ")
    assert Margin(0.05, "5% of the error", relative=True).resolve(-2.0) == pytest.approx(0.1)
    assert Margin(0.3, "one round trip").resolve(None) == 0.3


def test_strongest_opponent_and_its_clause():
    rivals = [{"name": "constant", "value": -204.0}, {"name": "greedy", "value": -66.0}, {"name": "x", "value": None}]
    best = strongest_opponent(rivals, higher_is_better=True)
    assert best == {"name": "greedy", "value": -66.0}
    assert opponent_clause(best, -796.0, -614.0, True) == "; both arms worse than greedy"
    assert opponent_clause(best, -796.0, -47.0, True) == "; optimized beats greedy, original worse than it"
    assert strongest_opponent(rivals, higher_is_better=False)["name"] == "constant"
    assert opponent_clause(None, 1.0, 2.0, True) == ""
