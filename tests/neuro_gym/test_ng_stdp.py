"""External check: Song, Miller & Abbott (2000) STDP competition gives a bimodal weight distribution."""

from __future__ import annotations

import numpy as np
import pytest
from neuro_gym import stdp_competition


@pytest.mark.slow
def test_stdp_competition_is_u_shaped():
    result = stdp_competition(seed=0, duration_s=100.0)
    weights = result["weights"]
    assert weights.shape == (1000,) and weights.min() >= 0.0 and weights.max() <= 1.0
    counts, _ = np.histogram(weights, bins=10, range=(0, 1))
    assert counts[0] > 150 and counts[-1] > 150  # sizeable mass near 0 and near w_max
    assert counts[0] > 1.5 * counts[3:7].mean() and counts[-1] > 1.5 * counts[3:7].mean()
    assert 1.0 < result["post_rate_hz"] < 100.0


def test_stdp_competition_short_run_is_seeded_and_bounded():
    a = stdp_competition(seed=1, duration_s=0.5)
    b = stdp_competition(seed=1, duration_s=0.5)
    assert np.array_equal(a["weights"], b["weights"])
    assert a["weights"].min() >= 0.0 and a["weights"].max() <= 1.0
