"""trainkit.contract's pieces: verdict words, the bootstrap interval, NaN handling and the extra-key bases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trainkit.contract import bootstrap_ci, decide_verdict, read_document
from trainkit.harness import Arm, BenchSpec, RunResult, run_bench

PRESETS = {"ci": SimpleNamespace(seeds=2)}


@pytest.mark.parametrize(
    ("speedup", "cpu", "ci", "delta", "higher", "expected"),
    [
        (2.0, 2.0, [0.0, 0.02], 0.01, True, "faster, quality non-inferior (x)"),
        (2.0, 2.0, [0.01, 0.02], 0.015, True, "faster, quality better (x)"),
        (1.03, 1.0, [-0.3, -0.2], -0.25, False, "about as fast, quality better (x)"),  # lower is better
        (0.5, 0.5, [0.0, 0.02], 0.01, True, "not faster, quality non-inferior (x)"),
        (2.0, 2.0, [-0.3, -0.2], -0.25, True, "faster, quality lower (x)"),
        (2.0, 2.0, [-0.3, 0.1], -0.1, True, "faster, quality inconclusive (x)"),
        (2.0, 2.0, [0.2, 0.3], 0.25, False, "faster, quality lower (x)"),  # lower is better: a rise is worse
        (0.97, 0.97, [0.0, 0.02], 0.01, True, "about as fast, quality non-inferior (x)"),
        (2.0, 0.5, [0.0, 0.0], 0.0, True, "faster in wall time only (more CPU seconds), quality non-inferior (x)"),
        (None, None, None, None, True, "speed not measured, quality not measured"),
    ],
)
def test_verdicts(speedup, cpu, ci, delta, higher, expected):
    assert decide_verdict(speedup, cpu, ci, delta, higher, 0.0, "x") == expected


def test_bootstrap_ci_brackets_the_median_and_repeats():
    values = [0.1, 0.2, 0.3, 0.4, 0.5]
    low, high = bootstrap_ci(values)
    assert low <= 0.3 <= high
    assert bootstrap_ci(values) == [low, high]
    assert bootstrap_ci([1.0]) is None


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
    assert doc["speedup"] == 4.0  # only seed 0 is paired
    assert doc["speedup_cpu"] == 1.0
    assert doc["modes"]["original"]["runs"][1]["quality"] is None  # NaN is written as null
    assert doc["quality_delta"] == 0.0


def test_an_arm_returning_another_seed_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="returned seed"):
        _bench(tmp_path, lambda name, seed: RunResult(seed + 1))
