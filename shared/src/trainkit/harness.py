"""The benchmark harness: a package declares its arms, the harness runs and records them fairly.

A package's bench module builds a :class:`BenchSpec` (its arms, budget, decomposition, extra comparisons
and plots) from a :class:`BenchContext`; :func:`run_bench` does the rest the same way for every package:
output folder, threads, one untimed warm-up per arm, timed runs with the arm order alternating by seed,
wall and CPU seconds, the schema-2 document (:mod:`trainkit.contract`), an atomic write and the plots.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainkit import validate
from trainkit.cli import DEFAULT_THREADS
from trainkit.contract import build_document, write_document
from trainkit.device import resolve_device
from trainkit.progress import progress_bar
from trainkit.timing import measure

__all__ = [
    "DEFAULT_PRESET",
    "Arm",
    "BenchContext",
    "BenchSpec",
    "Decomposition",
    "Hyperparameter",
    "RunResult",
    "add_bench_arguments",
    "arm_order",
    "cited",
    "current_command",
    "default_out",
    "run_bench",
    "run_interleaved",
    "search_hyperparameter",
]

DEFAULT_PRESET = "quick"  # the only preset whose results are the committed evidence (reports/bench, READMEs)
REQUIRED_ARMS = ("original", "optimized")


@dataclass
class RunResult:
    """One arm's run for one seed. The harness fills ``wall_s`` and ``cpu_s`` when they are left None."""

    seed: int
    quality: float | None = None
    quality_at_budget: float | None = None
    work: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None
    cpu_s: float | None = None


@dataclass
class Hyperparameter:
    """A hyperparameter's value and where it came from: a citation of the source, or a recorded search."""

    value: Any
    source: str
    citation: str | None = None
    search: dict[str, Any] | None = None


def cited(value: Any, citation: str) -> Hyperparameter:
    """A value taken from the original project; ``citation`` names the file, the setting and the value."""
    if not citation.strip():
        raise ValueError("a cited hyperparameter needs a citation")
    return Hyperparameter(value=value, source="cited", citation=citation)


def search_hyperparameter(
    name: str,
    candidates: Sequence[Any],
    score: Callable[[Any], float],
    higher_is_better: bool,
    budget: str,
) -> Hyperparameter:
    """Try every candidate with ``score`` (train for ``budget``, return the validation metric); keep the best.

    Every arm searched for the same ``name`` must use the same number of candidates and the same budget;
    :func:`trainkit.contract.validate_document` checks that. Ties keep the earlier candidate.
    """
    if not candidates:
        raise ValueError(f"search for {name!r} needs at least one candidate")
    scores = [float(score(candidate)) for candidate in candidates]
    ranked = [s if s == s else (-float("inf") if higher_is_better else float("inf")) for s in scores]  # NaN loses
    best = (max if higher_is_better else min)(range(len(candidates)), key=lambda i: ranked[i])
    return Hyperparameter(
        value=candidates[best],
        source="search",
        search={
            "name": name,
            "candidates": list(candidates),
            "validation_scores": scores,
            "higher_is_better": higher_is_better,
            "budget": budget,
            "split": "validation",
            "selected": candidates[best],
        },
    )


@dataclass
class Arm:
    """One way to train. ``warmup`` runs the same code at its smallest size, untimed, before any timed run."""

    run: Callable[[int], RunResult]
    warmup: Callable[[], None] | None
    description: str
    hyperparameters: dict[str, Hyperparameter] = field(default_factory=dict)


@dataclass
class Decomposition:
    """A row of "what each change buys": ratio = baseline / variant; quality delta = variant − baseline."""

    label: str
    baseline: str
    variant: str


@dataclass
class BenchSpec:
    """A package's declaration of its benchmark."""

    package: str
    quality_metric: str
    higher_is_better: bool
    budget: str
    arms: dict[str, Arm]
    speedup_basis: str = "wall_s"
    cpu_basis: str = "cpu_s"
    non_inferiority_margin: float = 0.0
    decomposition: list[Decomposition] = field(default_factory=list)
    extra_comparisons: Callable[[], dict[str, Any]] | None = None
    plots: Callable[[dict[str, Any], Path], list[Path]] | None = None
    notes: list[str] = field(default_factory=list)
    changed_from_v1: list[str] = field(default_factory=list)
    deterministic: bool = True
    nondeterminism_reason: str | None = None


@dataclass
class BenchContext:
    """What a package's ``build_spec`` receives."""

    preset_name: str
    preset: Any
    seeds: list[int]
    device: torch.device
    threads: int
    out: Path


def add_bench_arguments(
    parser: argparse.ArgumentParser,
    presets: Mapping[str, Any],
    default_seeds: Callable[[Any], int] | None = None,
) -> argparse.ArgumentParser:
    """The flags every package's ``bench`` command takes."""
    seeds_of = default_seeds or (lambda preset: preset.seeds)
    listing = ", ".join(f"{name} ({seeds_of(preset)} seeds)" for name, preset in presets.items())
    parser.add_argument(
        "--preset",
        choices=list(presets),
        default=DEFAULT_PRESET,
        help=f"problem sizes: {listing}. Only {DEFAULT_PRESET!r} writes the committed evidence (reports/bench)",
    )
    parser.add_argument(
        "--seeds", type=validate.positive_int, default=None, help="seeds 0..N-1 (default: the preset's)"
    )
    parser.add_argument(
        "--out",
        type=validate.output_dir,
        default=None,
        help=f"output folder (default: reports/bench/<package> for {DEFAULT_PRESET!r}, else reports/<preset>/<pkg>)",
    )
    parser.add_argument("--threads", type=validate.positive_int, default=DEFAULT_THREADS, help="torch threads")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto = a GPU if present")
    parser.set_defaults(default_seeds=seeds_of)
    return parser


def default_out(package: str, preset: str) -> Path:
    """Where a preset's results go unless ``--out`` says otherwise: evidence and smoke runs never mix."""
    if preset == DEFAULT_PRESET:
        return Path("reports") / "bench" / package
    return Path("reports") / preset / package


def arm_order(arms: Sequence[str], seed: int) -> list[str]:
    """Original first and optimized last on even seeds; the reverse on odd seeds."""
    middle = [name for name in arms if name not in REQUIRED_ARMS]
    order = ["original", *middle, "optimized"]
    return order if seed % 2 == 0 else order[::-1]


def current_command(package: str, argv: Sequence[str] | None = None) -> str:
    """The command line that started this process, as a user would type it: ``python -m <package> ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([f"python -m {package}", *(shlex.quote(a) for a in args)])


def _warm_up(spec: BenchSpec, order: Sequence[str]) -> dict[str, dict[str, Any]]:
    record: dict[str, dict[str, Any]] = {}
    for name in order:
        arm = spec.arms[name]
        if arm.warmup is None:
            record[name] = {"how": "none declared", "wall_s": None, "cpu_s": None}
            continue
        _, wall, cpu = measure(arm.warmup)
        record[name] = {"how": "declared warm-up (smallest size, same code), untimed", "wall_s": wall, "cpu_s": cpu}
    return record


def run_interleaved(
    runs: Mapping[str, Callable[[int], RunResult]],
    seeds: Sequence[int],
    desc: str = "runs",
    order: Callable[[Sequence[str], int], list[str]] | None = None,
) -> tuple[dict[str, list[RunResult]], list[dict[str, Any]]]:
    """Run every entry of ``runs`` once per seed, in ``order(names, seed)`` (default: the declared order on
    even seeds, reversed on odd ones), filling each result's wall and CPU seconds; return results and orders."""
    ordering = order or (lambda names, seed: list(names) if seed % 2 == 0 else list(names)[::-1])
    results: dict[str, list[RunResult]] = {name: [] for name in runs}
    orders = []
    with progress_bar(total=len(seeds) * len(runs), desc=desc, unit="run") as bar:
        for seed in seeds:
            sequence = ordering(list(runs), seed)
            orders.append({"seed": seed, "arms": sequence})
            for name in sequence:
                bar.set_postfix_str(f"{name} seed={seed}")
                result, wall, cpu = measure(functools.partial(runs[name], seed))
                if result.seed != seed:
                    raise ValueError(f"{name!r} returned seed {result.seed} for seed {seed}")
                result.wall_s = wall if result.wall_s is None else result.wall_s
                result.cpu_s = cpu if result.cpu_s is None else result.cpu_s
                results[name].append(result)
                bar.update(1)
    return results, orders


def run_bench(
    package: str,
    presets: Mapping[str, Any],
    build_spec: Callable[[BenchContext], BenchSpec],
    args: argparse.Namespace,
    argv: Sequence[str] | None = None,
) -> Path:
    """Run a package's benchmark as declared by ``build_spec``; write benchmark.json and plots; return its path."""
    preset = presets[args.preset]
    out = Path(args.out) if args.out is not None else default_out(package, args.preset)
    validate.output_dir(out)  # the default folder is probed too, before any work
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds if args.seeds is not None else args.default_seeds(preset)))
    device = resolve_device(args.device)
    spec = build_spec(BenchContext(args.preset, preset, seeds, device, args.threads, out))
    missing = [name for name in REQUIRED_ARMS if name not in spec.arms]
    if missing:
        raise ValueError(f"{package}: the bench declares no {' or '.join(missing)} arm")
    (warmup, results, orders, extras), wall, cpu = measure(functools.partial(_run_spec, spec, seeds, package))
    doc = build_document(spec, args.preset, current_command(package, argv), device, results, orders, warmup, extras)
    doc["bench_cost"] = {"wall_s": wall, "cpu_s": cpu, "covers": "warm-ups, every arm run and the extra comparisons"}
    path = write_document(out, doc)
    if spec.plots is not None:
        spec.plots(doc, out)
    print(f"{package} bench ({args.preset}): wrote {path} ({wall / 60:.1f} min wall, {cpu / 60:.1f} CPU-min)")
    return path


def _run_spec(
    spec: BenchSpec, seeds: Sequence[int], package: str
) -> tuple[dict[str, Any], dict[str, list[RunResult]], list[dict[str, Any]], dict[str, Any]]:
    warmup = _warm_up(spec, arm_order(list(spec.arms), 0))
    arms = {name: arm.run for name, arm in spec.arms.items()}
    results, orders = run_interleaved(arms, seeds, desc=f"{package} bench", order=arm_order)
    extras = spec.extra_comparisons() if spec.extra_comparisons is not None else {}
    return warmup, results, orders, extras
