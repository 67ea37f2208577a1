import argparse
import json

import pytest

from trainkit import RunResult, build_benchmark, run_interleaved, validate_benchmark, write_benchmark
from trainkit.benchmark import add_bench_arguments, bootstrap_ci, decide_verdict, read_benchmark

COST = {"original": 3.0, "optimized": 1.0}


def _fake_modes(calls: list[tuple[str, int]], quality_shift: float = 0.0):
    """Two modes whose cost ratio is known (3:1) and whose quality is set per seed."""

    def make(name: str):
        def run(seed: int) -> RunResult:
            calls.append((name, seed))
            work = 1000 * (seed + 1)
            quality = 0.9 + 0.01 * seed + (quality_shift if name == "optimized" else 0.0)
            return RunResult(seed, COST[name] * (seed + 1), {"steps": work}, quality, {"tt": COST[name]})

        return run

    return {"original": make("original"), "optimized": make("optimized")}


def _doc(quality_shift: float = 0.0, **kwargs):
    calls: list[tuple[str, int]] = []
    results = run_interleaved(_fake_modes(calls, quality_shift), seeds=[0, 1, 2])
    doc = build_benchmark(
        "fake", "ci", "python -m fake bench", results, "accuracy", True, non_inferiority_margin=0.01, **kwargs
    )
    return doc, calls


def test_modes_run_interleaved_with_the_same_seeds():
    _, calls = _doc()
    assert calls == [
        ("original", 0),
        ("optimized", 0),
        ("original", 1),
        ("optimized", 1),
        ("original", 2),
        ("optimized", 2),
    ]


def test_speedup_is_the_known_cost_ratio_and_summaries_are_medians():
    doc, _ = _doc()
    assert doc["speedup"] == pytest.approx(3.0)
    assert doc["modes"]["original"]["wall_s_median"] == pytest.approx(6.0)
    assert doc["modes"]["optimized"]["quality_median"] == pytest.approx(0.91)
    assert doc["quality_delta"] == pytest.approx(0.0)
    assert doc["verdict"] == "faster and non-inferior"
    assert doc["seeds"] == [0, 1, 2] and doc["machine"]["cpus"] >= 1
    validate_benchmark(doc)


def test_speedup_basis_can_be_an_extra_key():
    doc, _ = _doc(speedup_basis="tt")
    assert doc["speedup"] == pytest.approx(3.0)


def test_quality_drop_is_reported():
    doc, _ = _doc(quality_shift=-0.2)
    assert doc["quality_delta"] == pytest.approx(-0.2)
    assert doc["verdict"] == "faster, quality lower"


def test_unmeasured_values_are_null_and_give_null_speedup():
    results = {
        "original": [RunResult(0, None, {}, None)],
        "optimized": [RunResult(0, 1.0, {}, 0.5)],
    }
    doc = build_benchmark("fake", "ci", "cmd", results, "acc", True)
    assert doc["speedup"] is None and doc["quality_delta"] is None and doc["quality_ci95"] is None
    assert doc["verdict"] == "speedup not measured"
    validate_benchmark(doc)


def test_missing_time_to_target_is_explained_in_the_verdict():
    results = {
        "original": [RunResult(0, 5.0, {}, 0.1, {"time_to_target_s": None})],
        "optimized": [RunResult(0, 1.0, {}, 0.9, {"time_to_target_s": 0.5})],
    }
    doc = build_benchmark("fake", "ci", "cmd", results, "acc", True, speedup_basis="time_to_target_s")
    assert doc["speedup"] is None
    assert doc["verdict"] == "speedup n/a: original never reached the target (time_to_target_s missing)"


def test_write_then_read_round_trip_and_nan_becomes_null(tmp_path):
    doc, _ = _doc()
    doc["modes"]["original"]["runs"][0]["extra"]["nan_value"] = float("nan")
    path = write_benchmark(tmp_path, doc)
    loaded = read_benchmark(path)
    assert loaded["modes"]["original"]["runs"][0]["extra"]["nan_value"] is None
    assert loaded["speedup"] == pytest.approx(3.0)
    assert [p.name for p in tmp_path.iterdir()] == ["benchmark.json"]


def test_validation_catches_hard_coded_or_stale_figures(tmp_path):
    doc, _ = _doc()
    tampered = json.loads(json.dumps(doc))
    tampered["speedup"] = 7.3
    with pytest.raises(ValueError, match="paired median"):
        validate_benchmark(tampered)
    tampered = json.loads(json.dumps(doc))
    tampered["modes"]["optimized"]["wall_s_median"] = 0.1
    with pytest.raises(ValueError, match="wall_s_median"):
        validate_benchmark(tampered)
    tampered = json.loads(json.dumps(doc))
    del tampered["verdict"]
    with pytest.raises(ValueError, match="verdict"):
        validate_benchmark(tampered)
    tampered = json.loads(json.dumps(doc))
    tampered["modes"]["original"]["runs"][0]["wall_s"] = "fast"
    with pytest.raises(ValueError, match="invalid"):
        validate_benchmark(tampered)


def test_mode_returning_wrong_seed_is_an_error():
    with pytest.raises(ValueError, match="seed"):
        run_interleaved({"original": lambda s: RunResult(s + 1, 1.0)}, [0])


@pytest.mark.parametrize(
    ("speedup", "ci", "delta", "hib", "expected"),
    [
        (2.0, [-0.005, 0.01], 0.0, True, "faster and non-inferior"),
        (2.0, [-0.05, 0.01], 0.0, True, "faster, quality inconclusive"),
        (0.8, [0.0, 0.1], 0.05, True, "not faster, quality non-inferior"),
        (2.0, [0.05, 0.1], 0.07, False, "faster, quality lower"),
        (2.0, [-0.1, -0.05], -0.07, False, "faster and non-inferior"),
        (2.0, None, None, True, "faster, quality not measured"),
        (None, None, 0.0, True, "speedup not measured"),
    ],
)
def test_verdicts(speedup, ci, delta, hib, expected):
    assert decide_verdict(speedup, ci, delta, hib, margin=0.01) == expected


def test_bootstrap_ci_brackets_the_median():
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert lo <= 3.0 <= hi
    assert bootstrap_ci([1.0]) is None


def test_bench_arguments():
    args = add_bench_arguments(argparse.ArgumentParser()).parse_args(["--preset", "ci", "--seeds", "2"])
    assert (args.preset, args.seeds, args.device) == ("ci", 2, "auto")
    with pytest.raises(SystemExit):
        add_bench_arguments(argparse.ArgumentParser()).parse_args(["--preset", "huge"])
