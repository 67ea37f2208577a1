"""The benchmark contract every package follows: interleaved modes, paired seeds, measured numbers.

A package runs its modes with :func:`run_interleaved`, turns the runs into a document with
:func:`build_benchmark` and writes it with :func:`write_benchmark`. :func:`validate_benchmark`
checks the schema and recomputes every summary from the runs, so a hard-coded figure fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainkit.atomic import atomic_write
from trainkit.progress import progress_bar

__all__ = [
    "PRESETS",
    "SCHEMA_VERSION",
    "RunResult",
    "add_bench_arguments",
    "bootstrap_ci",
    "build_benchmark",
    "current_command",
    "decide_verdict",
    "machine_info",
    "paired_ratio_median",
    "read_benchmark",
    "run_interleaved",
    "validate_benchmark",
    "write_benchmark",
]

SCHEMA_VERSION = 1
PRESETS = ("ci", "quick", "full")
MODES = ("original", "optimized")


@dataclass
class RunResult:
    """One mode's run for one seed. ``wall_s`` and ``quality`` are None when not measured."""

    seed: int
    wall_s: float | None
    work: dict[str, float] = field(default_factory=dict)
    quality: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_interleaved(
    modes: Mapping[str, Callable[[int], RunResult]],
    seeds: Sequence[int],
    desc: str = "bench",
) -> dict[str, list[RunResult]]:
    """Run every mode for each seed in turn (original, optimized, original, ...) with the same seeds."""
    results: dict[str, list[RunResult]] = {name: [] for name in modes}
    with progress_bar(total=len(seeds) * len(modes), desc=desc, unit="run") as bar:
        for seed in seeds:
            for name, run in modes.items():
                bar.set_postfix_str(f"{name} seed={seed}")
                result = run(seed)
                if result.seed != seed:
                    raise ValueError(f"mode {name!r} returned seed {result.seed} for seed {seed}")
                results[name].append(result)
                bar.update(1)
    return results


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return float(statistics.median(present)) if present else None


def _basis_value(run: Mapping[str, Any], basis: str) -> float | None:
    value = run["wall_s"] if basis == "wall_s" else run.get("extra", {}).get(basis)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def paired_ratio_median(original: Sequence[Mapping[str, Any]], optimized: Sequence[Mapping[str, Any]], basis: str):
    """Median over seeds of original/optimized for ``basis`` (``wall_s`` or a key of ``extra``)."""
    by_seed = {run["seed"]: _basis_value(run, basis) for run in optimized}
    ratios = []
    for run in original:
        a, b = _basis_value(run, basis), by_seed.get(run["seed"])
        if a is not None and b is not None and b > 0:
            ratios.append(a / b)
    return (float(statistics.median(ratios)) if ratios else None), ratios


def _paired_quality_deltas(original: Sequence[Mapping[str, Any]], optimized: Sequence[Mapping[str, Any]]):
    by_seed = {run["seed"]: run["quality"] for run in optimized}
    return [
        by_seed[run["seed"]] - run["quality"]
        for run in original
        if run["quality"] is not None and by_seed.get(run["seed"]) is not None
    ]


def bootstrap_ci(values: Sequence[float], statistic=np.median, n_resamples: int = 2000, seed: int = 0):
    """Percentile bootstrap 95% interval of ``statistic``; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.choice(data, size=(n_resamples, len(data)), replace=True)
    stats = statistic(draws, axis=1)
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]


def decide_verdict(
    speedup: float | None,
    quality_ci95: Sequence[float] | None,
    quality_delta: float | None,
    higher_is_better: bool,
    margin: float,
) -> str:
    """Words for the outcome. Quality is non-inferior when the CI's worse end stays within ``margin``."""
    if speedup is None:
        return "speedup not measured"
    pace = "faster" if speedup > 1.0 else "not faster"
    if quality_delta is None:
        return f"{pace}, quality not measured"
    lo, hi = quality_ci95 if quality_ci95 is not None else (quality_delta, quality_delta)
    # Sign-adjust so that "worse" is always negative.
    worst, best = (lo, hi) if higher_is_better else (-hi, -lo)
    if worst >= -margin:
        return "faster and non-inferior" if pace == "faster" else "not faster, quality non-inferior"
    if best < -margin:
        return f"{pace}, quality lower"
    return f"{pace}, quality inconclusive"


def _why_no_speedup(modes: Mapping[str, Any], basis: str) -> str:
    """Say which mode lacks the speedup basis, e.g. never reached its target."""
    missing = [name for name in MODES if all(_basis_value(run, basis) is None for run in modes[name]["runs"])]
    if basis != "wall_s" and missing:
        return f"speedup n/a: {' and '.join(missing)} never reached the target ({basis} missing)"
    return "speedup not measured"


def machine_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def current_command(module: str | None = None) -> str:
    """The command line that started this process, as a user would type it."""
    args = [shlex.quote(a) for a in sys.argv[1:]]
    head = f"python -m {module}" if module else shlex.quote(sys.argv[0])
    return " ".join([head, *args])


def build_benchmark(
    package: str,
    preset: str,
    command: str,
    results: Mapping[str, Sequence[RunResult]],
    quality_metric: str,
    higher_is_better: bool,
    device: str | torch.device = "cpu",
    speedup_basis: str = "wall_s",
    non_inferiority_margin: float = 0.0,
    extra_comparisons: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Summarise interleaved runs into the contract's document.

    ``speedup`` is the median over seeds of original/optimized for ``speedup_basis`` (``wall_s``,
    or an ``extra`` key such as ``time_to_target_s``), paired by seed; unpaired or missing values
    are left out, and no pair at all gives ``null``.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if set(results) != set(MODES):
        raise ValueError(f"results must hold exactly the modes {MODES}, got {sorted(results)}")
    modes: dict[str, Any] = {}
    for name in MODES:
        runs = [asdict(r) for r in results[name]]
        modes[name] = {
            "runs": runs,
            "wall_s_median": _median([r["wall_s"] for r in runs]),
            "quality_median": _median([r["quality"] for r in runs]),
        }
    seeds = sorted({r["seed"] for name in MODES for r in modes[name]["runs"]})
    speedup, _ = paired_ratio_median(modes["original"]["runs"], modes["optimized"]["runs"], speedup_basis)
    deltas = _paired_quality_deltas(modes["original"]["runs"], modes["optimized"]["runs"])
    quality_delta = float(statistics.median(deltas)) if deltas else None
    quality_ci95 = bootstrap_ci(deltas)
    doc = {
        "schema": SCHEMA_VERSION,
        "package": package,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "preset": preset,
        "command": command,
        "seeds": seeds,
        "machine": machine_info(device),
        "quality_metric": quality_metric,
        "higher_is_better": higher_is_better,
        "speedup_basis": speedup_basis,
        "non_inferiority_margin": non_inferiority_margin,
        "modes": modes,
        "speedup": speedup,
        "quality_delta": quality_delta,
        "quality_ci95": quality_ci95,
        "verdict": decide_verdict(speedup, quality_ci95, quality_delta, higher_is_better, non_inferiority_margin)
        if speedup is not None
        else _why_no_speedup(modes, speedup_basis),
        "notes": list(notes),
    }
    if extra_comparisons:
        doc["extra_comparisons"] = dict(extra_comparisons)
    return doc


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _sanitise(value: Any) -> Any:
    """Replace NaN/inf with None: JSON has no such numbers, and an unmeasured value is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitise(v) for v in value]
    return value


def write_benchmark(out_dir: str | os.PathLike[str], doc: Mapping[str, Any]) -> Path:
    """Validate ``doc`` and write ``out_dir/benchmark.json`` atomically; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean = json.loads(json.dumps(_sanitise(dict(doc)), default=_json_default))
    validate_benchmark(clean)
    target = out / "benchmark.json"
    with atomic_write(target) as handle:
        json.dump(clean, handle, indent=2)
        handle.write("\n")
    return target


def read_benchmark(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path) as handle:
        doc = json.load(handle)
    validate_benchmark(doc)
    return doc


def _schema() -> dict[str, Any]:
    return json.loads(resources.files("trainkit").joinpath("benchmark_v1.schema.json").read_text())


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def validate_benchmark(doc: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if ``doc`` breaks the schema or its summaries differ from its runs."""
    import jsonschema

    try:
        jsonschema.validate(doc, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<root>"
        raise ValueError(f"benchmark.json invalid at {where}: {exc.message}") from None
    for name in MODES:
        mode = doc["modes"][name]
        runs = mode["runs"]
        if not _close(mode["wall_s_median"], _median([r["wall_s"] for r in runs])):
            raise ValueError(f"{name}.wall_s_median does not match its runs")
        if not _close(mode["quality_median"], _median([r["quality"] for r in runs])):
            raise ValueError(f"{name}.quality_median does not match its runs")
    speedup, _ = paired_ratio_median(
        doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"], doc["speedup_basis"]
    )
    if not _close(doc["speedup"], speedup):
        raise ValueError(f"speedup {doc['speedup']} is not the paired median of the runs ({speedup})")
    deltas = _paired_quality_deltas(doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"])
    if not _close(doc["quality_delta"], float(statistics.median(deltas)) if deltas else None):
        raise ValueError("quality_delta is not the paired median of the runs")


def add_bench_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags every package's ``bench`` command takes."""
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="quick",
        help="ci: under a minute, checks the pipeline; quick: minutes, the default report; full: the seed's sizes",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="number of seeds 0..N-1, the same for both modes (default: the preset's)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder for benchmark.json and plots")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    return parser
