"""Paired statistics for the benchmark: intervals, margins, opponents and the verdict words.

Every headline comparison pairs the two arms by seed. Quality is judged on the mean paired delta with a
95% interval: Student's t for fewer than :data:`BCA_FROM` pairs, the BCa bootstrap from there on. Speed is
judged on the geometric mean of per-seed ratios, with the t-interval of their logarithms. A quality word
stronger than "inconclusive" needs :data:`MIN_PAIRS_FOR_VERDICT` pairs; below that the verdict says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BCA_FROM",
    "LEVEL",
    "MIN_PAIRS_FOR_VERDICT",
    "SAME_SPEED",
    "DesignClaim",
    "Margin",
    "Opponent",
    "decide_verdict",
    "judge_quality",
    "judge_speed",
    "margin_record",
    "opponent_clause",
    "opponent_record",
    "paired_interval",
    "ratio_interval",
    "strongest_opponent",
]

LEVEL = 0.95
MIN_PAIRS_FOR_VERDICT = 10  # below this many paired seeds no quality word beyond "inconclusive"
BCA_FROM = 20  # from this many pairs the BCa bootstrap replaces the t-interval (heavy tails, skew)
BOOTSTRAP_RESAMPLES = 5000
SAME_SPEED = 0.05  # ratios within 5% of 1 are "about as fast": below what interleaved runs resolve here


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin, fixed in the package's config before the run, with the reason for its size.

    ``relative``: ``value`` is a fraction of the original arm's mean headline quality (its magnitude), so
    the margin is tied to the quantity judged; otherwise ``value`` is in the metric's own unit.
    """

    value: float
    reason: str
    relative: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"a margin must be finite and >= 0, not {self.value!r}")
        if not self.reason.strip():
            raise ValueError("a margin needs its reason: why this size, for this quantity")

    def resolve(self, original_mean: float | None) -> float | None:
        """The margin in the metric's unit; None when it is relative and the original has no value."""
        if not self.relative:
            return float(self.value)
        return None if original_mean is None else float(self.value * abs(original_mean))


@dataclass(frozen=True)
class Opponent:
    """A simple or degenerate rival, measured on the headline metric (same test data, same unit)."""

    name: str
    value: float
    description: str
    values_by_seed: Mapping[int, float] | None = None


@dataclass(frozen=True)
class DesignClaim:
    """The speedup a design document claims (a claim, drawn beside our measured bar; never a measurement)."""

    low: float
    high: float
    source: str

    def __post_init__(self) -> None:
        if not (0 < self.low <= self.high) or not self.source.strip():
            raise ValueError("a design claim needs 0 < low <= high and its source")


def _t_interval(data: np.ndarray, level: float) -> tuple[float, float]:
    from scipy.stats import t

    mean = float(data.mean())
    half = float(t.ppf(0.5 + level / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return mean - half, mean + half


def _bca_interval(data: np.ndarray, level: float, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=level,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(seed),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_interval(values: Sequence[float], level: float = LEVEL, seed: int = 0) -> dict[str, Any] | None:
    """Mean of paired deltas and its interval: t below :data:`BCA_FROM` pairs, else BCa; None under 2 pairs."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(data) < 2:
        return None
    mean = float(data.mean())
    if np.all(data == data[0]):
        low, high, method = mean, mean, "all pairs equal"
    elif len(data) >= BCA_FROM:
        low, high = _bca_interval(data, level, seed)
        method = f"BCa bootstrap of the mean ({BOOTSTRAP_RESAMPLES} resamples, seed {seed})"
    else:
        low, high = _t_interval(data, level)
        method = "paired t-interval of the mean"
    return {"method": method, "n": len(data), "level": level, "center": mean, "low": low, "high": high}


def ratio_interval(ratios: Sequence[float], level: float = LEVEL) -> dict[str, Any] | None:
    """Geometric mean of per-seed ratios and the t-interval of their logs, mapped back; None under 2."""
    logs = [math.log(r) for r in ratios if r is not None and math.isfinite(r) and r > 0]
    if len(logs) < 2:
        return None
    data = np.asarray(logs)
    centre = float(math.exp(data.mean()))
    if np.all(data == data[0]):
        low = high = centre
    else:
        lo, hi = _t_interval(data, level)
        low, high = math.exp(lo), math.exp(hi)
    method = "geometric mean of per-seed ratios, t-interval of their logs"
    return {"method": method, "n": len(logs), "level": level, "center": centre, "low": low, "high": high}


def judge_speed(interval: Mapping[str, Any] | None, point: float | None, cpu_point: float | None) -> str:
    """ "faster" or "slower" when the whole interval clears the ±5% band, "about as fast" inside it."""
    if point is None:
        return "speed not measured"
    if interval is None:
        return "speed inconclusive (n < 2)"
    low, high = interval["low"], interval["high"]
    if low > 1 + SAME_SPEED:
        pace = "faster"
        if cpu_point is not None and cpu_point < 1.0:
            pace += " in wall time only (more CPU seconds)"
        return pace
    if high < 1 - SAME_SPEED:
        return "slower"
    if low >= 1 - SAME_SPEED and high <= 1 + SAME_SPEED:
        return "about as fast"
    return f"speed inconclusive (interval {low:.2f}–{high:.2f}×)"


def judge_quality(interval: Mapping[str, Any] | None, higher_is_better: bool, margin: float | None) -> str:
    """better / non-inferior / worse / inconclusive for optimized − original, from the interval and margin."""
    if interval is None:
        return "quality inconclusive (n < 2)"
    if interval["n"] < MIN_PAIRS_FOR_VERDICT:
        return f"quality inconclusive (n = {interval['n']} < {MIN_PAIRS_FOR_VERDICT} paired seeds)"
    if margin is None:
        return "quality inconclusive (no margin)"
    low, high = interval["low"], interval["high"]
    worst, best = (low, high) if higher_is_better else (-high, -low)  # sign-adjusted: worse is negative
    if worst > margin:
        return "quality better"
    if worst >= -margin:
        return "quality non-inferior"
    if best < -margin:
        return "quality worse"
    return "quality inconclusive"


def strongest_opponent(opponents: Sequence[Mapping[str, Any]], higher_is_better: bool) -> dict[str, Any] | None:
    """The opponent with the best value (ties: the first declared), or None."""
    present = [o for o in opponents if o.get("value") is not None]
    if not present:
        return None
    pick = (max if higher_is_better else min)(present, key=lambda o: o["value"])
    return {"name": pick["name"], "value": pick["value"]}


def opponent_clause(
    best: Mapping[str, Any] | None, original: float | None, optimized: float | None, higher_is_better: bool
) -> str:
    """What the strongest opponent says about both arms' mean headline quality."""
    if best is None:
        return ""

    def worse(value: float | None) -> bool:
        return value is not None and (value < best["value"] if higher_is_better else value > best["value"])

    name = best["name"]
    if worse(original) and worse(optimized):
        return f"; both arms worse than {name}"
    if worse(optimized):
        return f"; optimized worse than {name}"
    if worse(original):
        return f"; optimized beats {name}, original worse than it"
    return f"; both arms beat {name}"


def decide_verdict(
    speed: Mapping[str, Any] | None,
    speedup: float | None,
    speedup_cpu: float | None,
    quality: Mapping[str, Any] | None,
    quality_delta: float | None,
    higher_is_better: bool,
    margin: float | None,
    at: str,
    clause: str = "",
) -> str:
    """Plain words: the speed word, the quality word (``at`` says where it is measured), the opponent clause."""
    pace = judge_speed(speed, speedup, speedup_cpu)
    if quality_delta is None:
        return f"{pace}, quality not measured{clause}"
    return f"{pace}, {judge_quality(quality, higher_is_better, margin)} ({at}){clause}"


NO_MARGIN = "no margin declared: only a difference whose interval excludes 0 gets a word"


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def margin_record(margin: Margin | float | None) -> dict[str, Any]:
    """The JSON record of a margin; a bare float is refused, since a margin needs its reason."""
    if margin is None:
        return {"value": 0.0, "relative": False, "reason": NO_MARGIN}
    if not isinstance(margin, Margin):
        raise ValueError("non_inferiority_margin needs its reason: pass trainkit.harness.Margin(value, reason)")
    return {"value": margin.value, "relative": margin.relative, "reason": margin.reason}


def opponent_record(opponent: Opponent) -> dict[str, Any]:
    """The JSON record of an opponent (non-finite values become None)."""
    if not isinstance(opponent, Opponent):
        raise ValueError(f"opponents must be trainkit.harness.Opponent, not {type(opponent).__name__}")
    by_seed = opponent.values_by_seed
    return {
        "name": opponent.name,
        "description": opponent.description,
        "value": _finite_or_none(opponent.value),
        "values_by_seed": None if by_seed is None else {str(int(k)): _finite_or_none(v) for k, v in by_seed.items()},
    }
