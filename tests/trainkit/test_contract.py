"""trainkit.contract, schema 3: verdict words, margins, opponents, NaN handling and the extra-key bases."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from trainkit.contract import read_document, validate_document
from trainkit.harness import Arm, BenchSpec, Margin, Opponent, RunResult, run_bench
from trainkit.stats import decide_verdict, paired_interval, ratio_interval

PRESETS = {"ci": SimpleNamespace(seeds=2), "ten": SimpleNamespace(seeds=10)}


@pytest.mark.parametrize(
    ("ratios", "deltas", "higher", "expected"),
    [
        ([2.0, 2.1], [0.01] * 10, True, "faster, quality better (x)"),
        ([2.0, 2.1], [0.0] * 5 + [0.001] * 5, True, "faster, quality non-inferior (x)"),
        ([0.5, 0.51], [-0.3, -0.31] * 5, True, "slower, quality worse (x)"),
        ([0.5, 0.51], [-0.3, -0.31] * 5, False, "slower, quality better (x)"),  # lower is better
        ([1.0, 1.01, 0.99, 1.0], [-0.3, 0.3] * 5, True, "about as fast, quality inconclusive (x)"),
        ([2.0, 2.1], [0.01, 0.02, 0.03], True, "faster, quality inconclusive (n = 3 < 10 paired seeds) (x)"),
    ],
)
def test_verdicts(ratios, deltas, higher, expected):
    speed = ratio_interval(ratios)
    quality = paired_interval(deltas)
    words = decide_verdict(speed, speed["center"], speed["center"], quality, quality["center"], higher, 0.005, "x")
    assert words == expected


def test_unmeasured_speed_and_quality():
    assert decide_verdict(None, None, None, None, None, True, 0.0, "x") == "speed not measured, quality not measured"


def _bench(tmp_path, run):
    arms = {name: Arm(run=lambda seed, name=name: run(name, seed), warmup=None, description=name) for name in
            ("original", "optimized")}  # fmt: skip
    spec = BenchSpec("fake", "acc", True, "1 step", arms, speedup_basis="time_to_target_s", cpu_basis="cpu_to_target_s")
    args = SimpleNamespace(preset="ci", seeds=2, out=tmp_path, threads=1, device="cpu", default_seeds=None)
    return read_document(run_bench("fake", PRESETS, lambda ctx: spec, args, argv=[]))


def test_extra_key_bases_and_unmeasured_values(tmp_path):
    def run(name, seed):
        slow = name == "original"
        reached = not (slow and seed == 1)  # the original misses its target on seed 1
        extra = {"time_to_target_s": (4.0 if slow else 1.0) if reached else None, "cpu_to_target_s": 2.0}
        return RunResult(seed, quality=float("nan") if seed == 1 else 0.5, extra=extra)

    doc = _bench(tmp_path, run)
    assert doc["speedup"] == 4.0  # only seed 0 is paired: the ratio itself, with no interval
    assert doc["speedup_interval"] is None
    assert doc["speedup_cpu"] == pytest.approx(1.0)
    assert doc["modes"]["original"]["runs"][1]["quality"] is None  # NaN is written as null
    assert doc["quality_delta"] == 0.0


def test_an_arm_returning_another_seed_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="returned seed"):
        _bench(tmp_path, lambda name, seed: RunResult(seed + 1))


def _margin_bench(tmp_path, margin, opponents=None, seeds=10):
    def run(name, seed):
        base = 1.0 + 0.01 * seed
        return RunResult(seed, quality=base + (0.02 if name == "optimized" else 0.0))

    arms = {name: Arm(run=lambda seed, name=name: run(name, seed), warmup=None, description=name) for name in
            ("original", "optimized")}  # fmt: skip
    spec = BenchSpec("fake", "error", False, "1 step", arms, non_inferiority_margin=margin, opponents=opponents)
    args = SimpleNamespace(preset="ten", seeds=seeds, out=tmp_path, threads=1, device="cpu", default_seeds=None)
    return read_document(run_bench("fake", PRESETS, lambda ctx: spec, args, argv=[]))


def test_a_relative_margin_is_resolved_from_the_original_and_judged(tmp_path):
    # error rises by 0.02 on a mean of 1.045: worse than 1% of it (0.01045), within 5% (0.05225)
    doc = _margin_bench(tmp_path / "a", Margin(0.05, "5% of the original's error", relative=True))
    assert doc["non_inferiority_margin"] == pytest.approx(0.05 * 1.045)
    assert doc["margin"]["reason"] == "5% of the original's error"
    assert "quality non-inferior (at stop)" in doc["verdict"]
    doc = _margin_bench(tmp_path / "b", Margin(0.01, "1% of the original's error", relative=True))
    assert "quality worse (at stop)" in doc["verdict"]


def test_a_margin_without_a_reason_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reason"):
        _margin_bench(tmp_path, 0.05)


def test_the_strongest_opponent_stands_in_the_verdict(tmp_path):
    rivals = [
        Opponent("prior", 2.0, "prior-only guess"),
        Opponent("least_squares", 0.5, "least squares", values_by_seed={s: 0.5 for s in range(10)}),
    ]
    doc = _margin_bench(tmp_path, Margin(0.05, "5%", relative=True), opponents=lambda extras: rivals)
    assert doc["strongest_opponent"] == {"name": "least_squares", "value": 0.5}
    assert doc["verdict"].endswith("; both arms worse than least_squares")
    paired = doc["opponent_rows"][1]["optimized_minus_opponent"]
    assert paired["n"] == 10 and paired["low"] > 0  # optimized's error is above least squares' on every seed


def test_a_tampered_interval_or_opponent_fails_validation(tmp_path):
    rivals = [Opponent("least_squares", 0.5, "least squares")]
    doc = _margin_bench(tmp_path, Margin(0.05, "5%", relative=True), opponents=lambda extras: rivals)
    for tamper in (
        lambda d: d["budget_quality_interval"] or d["quality_interval"].update(low=-1.0),
        lambda d: d["opponents"][0].update(value=5.0),
        lambda d: d.update(verdict="faster, quality better (at stop)"),
    ):
        bad = copy.deepcopy(doc)
        tamper(bad)
        with pytest.raises(ValueError):
            validate_document(bad)
