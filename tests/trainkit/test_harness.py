"""The harness with fake arms of known cost: order, warm-up, wall and CPU time, every summary field."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainkit.contract import read_document, validate_document
from trainkit.harness import (
    Arm,
    BenchSpec,
    Decomposition,
    RunResult,
    arm_order,
    cited,
    default_out,
    run_bench,
    search_hyperparameter,
)

PRESETS = {"ci": SimpleNamespace(seeds=2), "quick": SimpleNamespace(seeds=4)}


def _burn(cpu_s: float) -> None:
    """Spin until this process has used ``cpu_s`` more CPU seconds."""
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass


def _child_burn(cpu_s: float) -> None:
    code = f"import time\nend = time.process_time() + {cpu_s}\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", code], check=True)


def _spec(calls: list[str], unit: float = 0.05) -> BenchSpec:
    def arm(name: str, burn: float, sleep: float, child: float, quality: float, budget_quality: float) -> Arm:
        def run(seed: int) -> RunResult:
            calls.append(f"{name}:{seed}")
            _burn(burn)
            time.sleep(sleep)
            if child:
                _child_burn(child)
            return RunResult(seed, quality=quality + seed, quality_at_budget=budget_quality + seed, work={"steps": 10})

        return Arm(run=run, warmup=lambda: calls.append(f"warmup:{name}"), description=f"fake {name}")

    return BenchSpec(
        package="fake",
        quality_metric="accuracy",
        higher_is_better=True,
        budget="10 fake steps for every arm",
        arms={
            # original: 4 units of CPU; optimized: 1 unit of CPU + 1 unit asleep.
            "original": arm("original", 4 * unit, 0.0, 0.0, 0.5, 0.5),
            "engine_only": arm("engine_only", 2 * unit, 0.0, 0.0, 0.5, 0.6),
            "optimized": arm("optimized", unit, unit, 0.0, 0.5, 0.7),
        },
        decomposition=[
            Decomposition("engine only", "original", "engine_only"),
            Decomposition("end to end", "original", "optimized"),
        ],
        extra_comparisons=lambda: {"constant": {"summary": "a constant opponent", "quality": 0.1}},
        notes=["fake arms with known costs"],
        changed_from_v1=["nothing: a test"],
    )


def _args(tmp_path: Path, seeds: int = 2, preset: str = "ci") -> SimpleNamespace:
    return SimpleNamespace(
        preset=preset, seeds=seeds, out=tmp_path / "out", threads=1, device="cpu", default_seeds=lambda p: p.seeds
    )


def test_order_alternates_by_seed_and_warmups_come_first(tmp_path):
    calls: list[str] = []
    path = run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.01), _args(tmp_path, seeds=2), argv=[])
    assert calls[:3] == ["warmup:original", "warmup:engine_only", "warmup:optimized"]
    assert calls[3:] == ["original:0", "engine_only:0", "optimized:0", "optimized:1", "engine_only:1", "original:1"]
    doc = read_document(path)
    assert doc["order"] == [
        {"seed": 0, "arms": ["original", "engine_only", "optimized"]},
        {"seed": 1, "arms": ["optimized", "engine_only", "original"]},
    ]
    assert arm_order(["optimized", "x", "original"], 2) == ["original", "x", "optimized"]
    assert set(doc["warmup"]) == {"original", "engine_only", "optimized"}


def test_a_decomposition_arm_may_run_on_fewer_seeds_than_the_headline_pair(tmp_path):
    calls: list[str] = []

    def spec(ctx):
        made = _spec(calls, unit=0.001)
        made.arms["engine_only"].max_seeds = 1
        return made

    doc = read_document(run_bench("fake", PRESETS, spec, _args(tmp_path, seeds=3), argv=[]))
    assert [c for c in calls if c.startswith("engine_only:")] == ["engine_only:0"]
    assert doc["order"][1] == {"seed": 1, "arms": ["optimized", "original"]}
    engine_row = doc["decomposition"][0]
    assert engine_row["quality_interval"] is None  # one pair: no interval, so no word
    assert doc["quality_interval"]["n"] == 3
    validate_document(doc)

    def headline_limited(ctx):
        made = _spec([], unit=0.001)
        made.arms["optimized"].max_seeds = 1
        return made

    with pytest.raises(ValueError, match="headline arms run on every seed"):
        run_bench("fake", PRESETS, headline_limited, _args(tmp_path / "b", seeds=2), argv=[])


def test_known_costs_give_known_wall_and_cpu_ratios(tmp_path):
    calls: list[str] = []
    doc = read_document(run_bench("fake", PRESETS, lambda ctx: _spec(calls), _args(tmp_path, seeds=2), argv=[]))
    # CPU: 4 units vs 1 -> 4x. Wall: 4 units vs 2 on a quiet machine -> 2x; other load stretches only the
    # CPU-bound units, so the wall ratio lies between 2x and the CPU ratio.
    assert doc["speedup_cpu"] == pytest.approx(4.0, rel=0.25)
    assert 1.5 < doc["speedup"] < 1.1 * doc["speedup_cpu"]
    # Sleeping half its time, optimized uses fewer cores than original, however loaded the machine is.
    cores = {name: doc["modes"][name]["cores_used_median"] for name in ("original", "optimized")}
    assert cores["optimized"] < cores["original"] <= 1.05
    engine = doc["decomposition"][0]
    assert engine["label"] == "engine only" and engine["speedup_cpu"] == pytest.approx(2.0, rel=0.25)
    assert engine["budget_quality_delta"] == pytest.approx(0.1)
    assert doc["quality_delta"] == pytest.approx(0.0)
    assert doc["budget_quality_delta"] == pytest.approx(0.2)
    assert doc["budget_quality_ci95"] == pytest.approx([0.2, 0.2])
    # two seeds: the interval rule allows no quality word
    assert doc["verdict"].endswith("quality inconclusive (n = 2 < 10 paired seeds) (at the equal budget)")
    assert doc["extra_comparisons"]["constant"]["quality"] == 0.1
    # The whole bench's cost covers the warm-ups and every run, so it is at least the sum of the runs.
    runs = [run for mode in doc["modes"].values() for run in mode["runs"]]
    assert doc["bench_cost"]["wall_s"] >= sum(run["wall_s"] for run in runs)
    assert doc["bench_cost"]["cpu_s"] >= 0.9 * sum(run["cpu_s"] for run in runs)
    assert doc["budget"] == "10 fake steps for every arm" and doc["schema"] == 3


def test_cpu_time_of_child_processes_is_counted(tmp_path):
    def build(ctx):
        run = lambda seed: (_child_burn(0.3), RunResult(seed, quality=1.0))[1]  # noqa: E731
        arms = {name: Arm(run=run, warmup=None, description=name) for name in ("original", "optimized")}
        return BenchSpec("fake", "accuracy", True, "one child", arms)

    doc = read_document(run_bench("fake", PRESETS, build, _args(tmp_path, seeds=1), argv=[]))
    assert doc["modes"]["original"]["runs"][0]["cpu_s"] >= 0.3
    assert doc["warmup"]["original"]["how"] == "none declared"


def test_validation_recomputes_every_summary(tmp_path):
    calls: list[str] = []
    path = run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.01), _args(tmp_path), argv=[])
    doc = json.loads(path.read_text())
    for mutate in (
        lambda d: d.update(speedup=d["speedup"] * 2),
        lambda d: d.update(speedup_cpu=99.0),
        lambda d: d.update(budget_quality_delta=1.0),
        lambda d: d.update(verdict="faster and better than ever"),
        lambda d: d["modes"]["original"].update(cpu_s_median=123.0),
        lambda d: d["decomposition"][0].update(speedup_cpu=10.0),
        lambda d: d["order"][1].update(arms=["original", "engine_only", "optimized"]),
        lambda d: d["decomposition"].append({**d["decomposition"][0], "variant": "ghost"}),
    ):
        broken = json.loads(json.dumps(doc))
        mutate(broken)
        with pytest.raises(ValueError):
            validate_document(broken)
    validate_document(doc)


def test_searches_must_share_candidates_and_budget(tmp_path):
    calls: list[str] = []

    def build(ctx):
        spec = _spec(calls, unit=0.001)
        spec.arms["original"].hyperparameters["lr"] = search_hyperparameter(
            "lr", [0.1, 1.0], lambda lr: -abs(lr - 1.0), True, "2 epochs"
        )
        spec.arms["optimized"].hyperparameters["lr"] = search_hyperparameter(
            "lr", [0.01, 0.1, 1.0], lambda lr: -abs(lr - 0.1), True, "2 epochs"
        )
        return spec

    with pytest.raises(ValueError, match="different candidates or budget"):
        run_bench("fake", PRESETS, build, _args(tmp_path), argv=[])
    assert search_hyperparameter("lr", [0.1, 1.0], lambda lr: -abs(lr - 1.0), True, "2 epochs").value == 1.0
    assert cited(3e-4, "sb3 ppo.py learning_rate=3e-4").source == "cited"


def test_same_bench_twice_gives_the_same_quality_figures(tmp_path):
    docs = []
    for run in range(2):
        calls: list[str] = []
        args = _args(tmp_path / str(run))
        docs.append(
            read_document(run_bench("fake", PRESETS, lambda ctx, calls=calls: _spec(calls, unit=0.001), args, argv=[]))
        )
    keys = ("quality_delta", "quality_ci95", "budget_quality_delta", "budget_quality_ci95")
    assert [docs[0][k] for k in keys] == [docs[1][k] for k in keys]
    for name in docs[0]["modes"]:
        assert [r["quality"] for r in docs[0]["modes"][name]["runs"]] == [
            r["quality"] for r in docs[1]["modes"][name]["runs"]
        ]


def test_only_the_default_preset_writes_to_the_evidence_folder():
    assert default_out("pkg", "quick") == Path("reports/bench/pkg")
    assert default_out("pkg", "ci") == Path("reports/ci/pkg")
    assert default_out("pkg", "full") == Path("reports/full/pkg")


class _KilledError(Exception):
    """Stands in for a kill: raised from inside an arm run."""


def test_a_killed_bench_resumes_from_its_last_finished_run_with_the_same_figures(tmp_path, capsys):
    calls: list[str] = []
    whole = read_document(
        run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.001), _args(tmp_path / "a"), argv=[])
    )
    assert not (tmp_path / "a" / "out" / "partial").exists()  # discarded once the document is written

    calls = []

    def dies_on_the_fourth_run(ctx):
        spec = _spec(calls, unit=0.001)
        original = spec.arms["original"].run

        def run(seed):
            if seed == 1:
                raise _KilledError
            return original(seed)

        spec.arms["original"].run = run
        return spec

    args = _args(tmp_path / "b")
    with pytest.raises(_KilledError):  # seed 1 runs optimized, engine_only, then original
        run_bench("fake", PRESETS, dies_on_the_fourth_run, args, argv=[])
    assert len(list((tmp_path / "b" / "out" / "partial").glob("run.*.json"))) == 5
    calls = []
    resumed = read_document(run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.001), args, argv=[]))
    assert [c for c in calls if not c.startswith("warmup")] == ["original:1"]  # only the unfinished run
    assert "resuming, 5 of 6 runs already finished" in capsys.readouterr().err
    for key in ("quality_delta", "budget_quality_delta", "budget_quality_interval", "verdict", "extra_comparisons"):
        assert resumed[key] == whole[key], key
    for name in whole["modes"]:
        assert [r["quality_at_budget"] for r in resumed["modes"][name]["runs"]] == [
            r["quality_at_budget"] for r in whole["modes"][name]["runs"]
        ]
    assert "earlier, killed attempt" in resumed["bench_cost"]["covers"]


def test_partial_runs_of_another_configuration_are_refused_not_mixed(tmp_path):
    from trainkit.errors import ConfigError

    calls: list[str] = []
    args = _args(tmp_path)
    with pytest.raises(_KilledError):
        run_bench("fake", PRESETS, lambda ctx: _spec_that_dies(calls), args, argv=[])
    other = _args(tmp_path, seeds=3)
    with pytest.raises(ConfigError, match="--fresh"):
        run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.001), other, argv=[])
    other.fresh = True
    doc = read_document(run_bench("fake", PRESETS, lambda ctx: _spec(calls, unit=0.001), other, argv=[]))
    assert doc["seeds"] == [0, 1, 2]


def _spec_that_dies(calls: list[str]) -> BenchSpec:
    spec = _spec(calls, unit=0.001)

    def run(seed):
        raise _KilledError

    spec.arms["optimized"].run = run
    return spec
