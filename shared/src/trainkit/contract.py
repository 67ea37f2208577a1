"""Benchmark contract, schema 3: the document :func:`trainkit.harness.run_bench` writes, and its checks.

Every summary (means and medians, wall and CPU ratios with their intervals, quality deltas with their
intervals at the stop point and at the equal budget, the margin, the strongest opponent, decomposition rows,
the verdict) is derived from the runs and the declared opponents, and :func:`validate_document` derives it
again, so a hard-coded figure fails validation. The statistics are in :mod:`trainkit.stats`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trainkit.atomic import atomic_write
from trainkit.errors import DataError
from trainkit.stats import (
    Margin,
    decide_verdict,
    margin_record,
    opponent_clause,
    opponent_record,
    paired_interval,
    ratio_interval,
    strongest_opponent,
)

if TYPE_CHECKING:
    from trainkit.harness import BenchSpec, RunResult

__all__ = [
    "SCHEMA_VERSION",
    "build_document",
    "headline_field",
    "machine_info",
    "paired_deltas",
    "paired_ratios",
    "read_document",
    "validate_document",
    "write_document",
]

SCHEMA_VERSION = 3
QUALITY_FIELDS = ("quality", "quality_at_budget")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _median(values: Sequence[Any]) -> float | None:
    present = [v for v in (_finite(x) for x in values) if v is not None]
    return float(statistics.median(present)) if present else None


def _mean(values: Sequence[Any]) -> float | None:
    present = [v for v in (_finite(x) for x in values) if v is not None]
    return float(statistics.fmean(present)) if present else None


def _value(run: Mapping[str, Any], key: str) -> float | None:
    """A run's top-level field (wall_s, cpu_s, quality...) or, failing that, a key of its ``extra``."""
    return _finite(run[key]) if key in run else _finite(run.get("extra", {}).get(key))


def paired_ratios(baseline: Sequence[Mapping[str, Any]], variant: Sequence[Mapping[str, Any]], key: str) -> list:
    """Per seed, baseline / variant of ``key``; seeds missing either value are left out."""
    by_seed = {run["seed"]: _value(run, key) for run in variant}
    ratios = []
    for run in baseline:
        a, b = _value(run, key), by_seed.get(run["seed"])
        if a is not None and b is not None and b > 0:
            ratios.append(a / b)
    return ratios


def paired_deltas(baseline: Sequence[Mapping[str, Any]], variant: Sequence[Mapping[str, Any]], key: str) -> list:
    """Per seed, variant − baseline of ``key``."""
    by_seed = {run["seed"]: _value(run, key) for run in variant}
    deltas = []
    for run in baseline:
        a, b = _value(run, key), by_seed.get(run["seed"])
        if a is not None and b is not None:
            deltas.append(b - a)
    return deltas


def _interval_pair(interval: Mapping[str, Any] | None) -> list[float] | None:
    return None if interval is None else [interval["low"], interval["high"]]


def machine_info(device: str | torch.device, threads: int | None = None) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": threads if threads is not None else torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def _mode_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cores = [r["cpu_s"] / r["wall_s"] for r in runs if _finite(r["cpu_s"]) and _finite(r["wall_s"])]
    return {
        "wall_s_median": _median([r["wall_s"] for r in runs]),
        "cpu_s_median": _median([r["cpu_s"] for r in runs]),
        "cores_used_median": _median(cores),
        "quality_median": _median([r["quality"] for r in runs]),
        "quality_at_budget_median": _median([r["quality_at_budget"] for r in runs]),
        "quality_mean": _mean([r["quality"] for r in runs]),
        "quality_at_budget_mean": _mean([r["quality_at_budget"] for r in runs]),
    }


def headline_field(doc: Mapping[str, Any]) -> str:
    """``quality_at_budget`` when both headline arms report it for some seed, else ``quality``."""
    original, optimized = doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"]
    return "quality_at_budget" if paired_deltas(original, optimized, "quality_at_budget") else "quality"


def _resolved_margin(doc: Mapping[str, Any], field: str) -> float | None:
    margin = doc["margin"]
    original_mean = _mean([r[field] for r in doc["modes"]["original"]["runs"]])
    return Margin(margin["value"], margin["reason"], margin["relative"]).resolve(original_mean)


def _opponent_rows(doc: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    """Each declared opponent, with optimized − opponent per seed where the opponent has per-seed values."""
    optimized = {r["seed"]: _finite(r[field]) for r in doc["modes"]["optimized"]["runs"]}
    rows = []
    for opponent in doc["opponents"]:
        by_seed = opponent.get("values_by_seed") or {}
        deltas = [
            optimized[int(k)] - v for k, v in by_seed.items() if optimized.get(int(k)) is not None and v is not None
        ]
        rows.append({**opponent, "optimized_minus_opponent": paired_interval(deltas) if by_seed else None})
    return rows


def _headline(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Ratios, quality deltas and their intervals, the margin, the strongest opponent and the verdict."""
    original, optimized = doc["modes"]["original"]["runs"], doc["modes"]["optimized"]["runs"]
    speed = ratio_interval(paired_ratios(original, optimized, doc["speedup_basis"]))
    speed_cpu = ratio_interval(paired_ratios(original, optimized, doc["cpu_basis"]))
    summary: dict[str, Any] = {
        "speedup": None if speed is None else speed["center"],
        "speedup_interval": speed,
        "speedup_cpu": None if speed_cpu is None else speed_cpu["center"],
        "speedup_cpu_interval": speed_cpu,
    }
    if speed is None:  # one paired seed: the ratio itself, with no interval
        summary["speedup"] = _median(paired_ratios(original, optimized, doc["speedup_basis"]))
    if speed_cpu is None:
        summary["speedup_cpu"] = _median(paired_ratios(original, optimized, doc["cpu_basis"]))
    for field in QUALITY_FIELDS:
        deltas = paired_deltas(original, optimized, field)
        prefix = "quality" if field == "quality" else "budget_quality"
        interval = paired_interval(deltas)
        summary[f"{prefix}_delta"] = _mean(deltas)
        summary[f"{prefix}_interval"] = interval
        summary[f"{prefix}_ci95"] = _interval_pair(interval)
    field = headline_field(doc)
    prefix, at = ("budget_quality", "at the equal budget") if field == "quality_at_budget" else ("quality", "at stop")
    margin = _resolved_margin(doc, field)
    best = strongest_opponent(doc["opponents"], doc["higher_is_better"])
    clause = opponent_clause(
        best,
        _mean([r[field] for r in original]),
        _mean([r[field] for r in optimized]),
        doc["higher_is_better"],
    )
    summary.update(
        headline_field=field,
        non_inferiority_margin=margin,
        strongest_opponent=best,
        opponent_rows=_opponent_rows(doc, field),
        verdict=decide_verdict(
            speed,
            summary["speedup"],
            summary["speedup_cpu"],
            summary[f"{prefix}_interval"],
            summary[f"{prefix}_delta"],
            doc["higher_is_better"],
            margin,
            at,
            clause,
        ),
    )
    return summary


def _decomposition_rows(doc: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        base, variant = doc["modes"][row["baseline"]]["runs"], doc["modes"][row["variant"]]["runs"]
        wall = ratio_interval(paired_ratios(base, variant, doc["speedup_basis"]))
        cpu = ratio_interval(paired_ratios(base, variant, doc["cpu_basis"]))
        quality = paired_interval(paired_deltas(base, variant, "quality"))
        budget = paired_interval(paired_deltas(base, variant, "quality_at_budget"))
        out.append(
            {
                "label": row["label"],
                "baseline": row["baseline"],
                "variant": row["variant"],
                "speedup": wall["center"] if wall else _median(paired_ratios(base, variant, doc["speedup_basis"])),
                "speedup_cpu": cpu["center"] if cpu else _median(paired_ratios(base, variant, doc["cpu_basis"])),
                "speedup_interval": wall,
                "quality_delta": _mean(paired_deltas(base, variant, "quality")),
                "quality_interval": quality,
                "budget_quality_delta": _mean(paired_deltas(base, variant, "quality_at_budget")),
                "budget_quality_interval": budget,
            }
        )
    return out


def build_document(
    spec: BenchSpec,
    preset: str,
    command: str,
    device: str | torch.device,
    results: Mapping[str, Sequence[RunResult]],
    order: Sequence[Mapping[str, Any]],
    warmup: Mapping[str, Any],
    extra_comparisons: Mapping[str, Any],
) -> dict[str, Any]:
    """The schema-3 document for one package's benchmark."""
    if not spec.deterministic and not spec.nondeterminism_reason:
        raise ValueError(f"{spec.package}: a non-deterministic bench must say why (nondeterminism_reason)")
    modes = {}
    for name, arm in spec.arms.items():
        runs = [asdict(r) for r in results[name]]
        modes[name] = {
            "description": arm.description,
            "hyperparameters": {key: asdict(value) for key, value in arm.hyperparameters.items()},
            "runs": runs,
            **_mode_summary(runs),
        }
    opponents = list(spec.opponents(dict(extra_comparisons))) if spec.opponents is not None else []
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "package": spec.package,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "preset": preset,
        "command": command,
        "seeds": sorted({r["seed"] for mode in modes.values() for r in mode["runs"]}),
        "machine": machine_info(device),
        "quality_metric": spec.quality_metric,
        "higher_is_better": spec.higher_is_better,
        "budget": spec.budget,
        "speedup_basis": spec.speedup_basis,
        "cpu_basis": spec.cpu_basis,
        "margin": margin_record(spec.non_inferiority_margin),
        "opponents": [opponent_record(o) for o in opponents],
        "design_claim": None if spec.design_claim is None else asdict(spec.design_claim),
        "order": [dict(entry) for entry in order],
        "warmup": dict(warmup),
        "modes": modes,
        "reproducibility": {"deterministic": spec.deterministic, "reason": spec.nondeterminism_reason},
        "notes": list(spec.notes),
        "changed_from_v1": list(spec.changed_from_v1),
        "extra_comparisons": dict(extra_comparisons),
    }
    doc.update(_headline(doc))
    doc["decomposition"] = _decomposition_rows(doc, [asdict(row) for row in spec.decomposition])
    return doc


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, torch.device)):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _sanitise(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers, and an unmeasured value is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitise(v) for v in value]
    return value


def write_document(out_dir: str | os.PathLike[str], doc: Mapping[str, Any]) -> Path:
    """Validate ``doc`` and write ``out_dir/benchmark.json`` atomically; return its path."""
    clean = _sanitise(json.loads(json.dumps(dict(doc), default=_json_default, allow_nan=True)))
    validate_document(clean)
    target = Path(out_dir) / "benchmark.json"
    with atomic_write(target) as handle:
        json.dump(clean, handle, indent=2)
        handle.write("\n")
    return target


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A validated benchmark document; one that is not JSON or breaks the schema is a one-line DataError."""
    try:
        with open(path) as handle:
            doc = json.load(handle)
        validate_document(doc)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError, as is a schema break
        raise DataError(f"{path}: not a benchmark document ({' '.join(str(exc).split())[:200]})") from None
    return doc


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def _check_same(label: str, stored: Mapping[str, Any], derived: Mapping[str, Any]) -> None:
    for key, value in derived.items():
        same = stored.get(key) == value if isinstance(value, str) else _close(stored.get(key), value)
        if not same:
            raise ValueError(f"{label}.{key} = {stored.get(key)!r} does not follow from the runs ({value!r})")


def _check_order(doc: Mapping[str, Any]) -> None:
    from trainkit.harness import arm_order

    for entry in doc["order"]:
        ran = {name for name, mode in doc["modes"].items() if any(r["seed"] == entry["seed"] for r in mode["runs"])}
        expected = [name for name in arm_order(list(doc["modes"]), entry["seed"]) if name in ran]
        if entry["arms"] != expected or not {"original", "optimized"} <= ran:
            raise ValueError(f"order for seed {entry['seed']} does not alternate as the contract requires")


def _check_searches(doc: Mapping[str, Any]) -> None:
    """Every search for the same hyperparameter used the same number of candidates and the same budget."""
    seen: dict[str, tuple[int, str, str]] = {}
    for arm, mode in doc["modes"].items():
        for key, hp in mode["hyperparameters"].items():
            if hp["source"] != "search":
                continue
            shape = (len(hp["search"]["candidates"]), hp["search"]["budget"], arm)
            if key in seen and seen[key][:2] != shape[:2]:
                raise ValueError(f"search for {key!r}: {arm} and {seen[key][2]} had different candidates or budget")
            seen.setdefault(key, shape)


def validate_document(doc: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if ``doc`` breaks schema 3 or any summary differs from what its runs give."""
    import jsonschema

    schema = json.loads(resources.files("trainkit").joinpath("benchmark.schema.json").read_text())
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<root>"
        raise ValueError(f"benchmark.json invalid at {where}: {exc.message}") from None
    for name, mode in doc["modes"].items():
        _check_same(f"modes.{name}", mode, _mode_summary(mode["runs"]))
    _check_same("benchmark", doc, _headline(doc))
    for row in doc["decomposition"]:
        for arm in (row["baseline"], row["variant"]):
            if arm not in doc["modes"]:
                raise ValueError(f"decomposition row {row['label']!r} names an arm that did not run: {arm!r}")
    derived_rows = _decomposition_rows(doc, doc["decomposition"])
    for stored, derived in zip(doc["decomposition"], derived_rows):
        _check_same(f"decomposition[{stored['label']}]", stored, derived)
    _check_order(doc)
    _check_searches(doc)
    if not doc["reproducibility"]["deterministic"] and not doc["reproducibility"]["reason"]:
        raise ValueError("reproducibility: a non-deterministic bench must say why")
