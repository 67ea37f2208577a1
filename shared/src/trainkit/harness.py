"""The benchmark harness: a package declares its arms, the harness runs and records them fairly.

A package's bench module builds a :class:`BenchSpec` (its arms, budget, margin, opponents, decomposition,
extra comparisons and plots) from a :class:`BenchContext`; :func:`run_bench` does the rest the same way for
every package: output folder, threads, one untimed warm-up per arm, timed runs with the arm order
alternating by seed, wall and CPU seconds, the schema-3 document (:mod:`trainkit.contract`), an atomic write
and the plots. Every finished run is kept on disk (:mod:`trainkit.bench_state`) until the document is
written, so a killed bench rerun with the same command resumes from its last finished arm and seed.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainkit import validate
from trainkit.bench_state import BenchState, source_hash
from trainkit.cli import DEFAULT_THREADS
from trainkit.contract import _json_default, build_document, write_document
from trainkit.device import resolve_device
from trainkit.progress import progress_bar
from trainkit.stats import DesignClaim, Margin, Opponent
from trainkit.timing import measure

__all__ = [
    "DEFAULT_PRESET",
    "Arm",
    "BenchContext",
    "BenchSpec",
    "Decomposition",
    "DesignClaim",
    "Hyperparameter",
    "Margin",
    "Opponent",
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
    max_seeds: int | None = None  # a decomposition arm may run on the first k seeds only; the headline pair never


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
    non_inferiority_margin: Margin | None = None
    decomposition: list[Decomposition] = field(default_factory=list)
    extra_comparisons: Callable[[], dict[str, Any]] | None = None
    # From the extra comparisons (as JSON would hold them) to the simple rivals on the headline metric.
    opponents: Callable[[dict[str, Any]], Sequence[Opponent]] | None = None
    design_claim: DesignClaim | None = None
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
    # Every arm's finished runs, filled in before ``extra_comparisons`` is called (resumed runs included):
    # extras read them here, never from a closure that a resumed bench would leave half empty.
    results: dict[str, list[RunResult]] = field(default_factory=dict)


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
    parser.add_argument("--threads", type=validate.threads, default=DEFAULT_THREADS, help="torch threads")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto = a GPU if present")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="discard the finished runs a killed bench left in <out>/partial (default: resume from them)",
    )
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
    state: BenchState | None = None,
    seed_limits: Mapping[str, int] | None = None,
) -> tuple[dict[str, list[RunResult]], list[dict[str, Any]]]:
    """Run every entry of ``runs`` once per seed, in ``order(names, seed)`` (default: the declared order on
    even seeds, reversed on odd ones), filling each result's wall and CPU seconds; return results and orders.

    With ``state``, a run already finished there is read back instead of run, and each new run is saved
    as soon as it ends. ``seed_limits`` runs an entry on the first k seeds only."""
    ordering = order or (lambda names, seed: list(names) if seed % 2 == 0 else list(names)[::-1])
    limits = {name: len(seeds) if seed_limits is None else seed_limits.get(name, len(seeds)) for name in runs}
    results: dict[str, list[RunResult]] = {name: [] for name in runs}
    orders = []
    done = state.finished() if state is not None else 0
    total = sum(min(limit, len(seeds)) for limit in limits.values())
    if state is not None and done:
        print(f"{desc}: resuming, {done} of {total} runs already finished in {state.folder}", file=sys.stderr)
    with progress_bar(total=total, initial=done, desc=desc, unit="run") as bar:
        for index, seed in enumerate(seeds):
            sequence = [name for name in ordering(list(runs), seed) if index < limits[name]]
            orders.append({"seed": seed, "arms": sequence})
            for name in sequence:
                stored = state.load_run(name, seed) if state is not None else None
                if stored is not None:
                    results[name].append(RunResult(**stored))
                    continue
                bar.set_postfix_str(f"{name} seed={seed}")
                results[name].append(_timed_run(runs[name], name, seed))
                if state is not None:
                    state.save_run(name, results[name][-1])
                bar.update(1)
    return results, orders


def _timed_run(run: Callable[[int], RunResult], name: str, seed: int) -> RunResult:
    result, wall, cpu = measure(functools.partial(run, seed))
    if result.seed != seed:
        raise ValueError(f"{name!r} returned seed {result.seed} for seed {seed}")
    result.wall_s = wall if result.wall_s is None else result.wall_s
    result.cpu_s = cpu if result.cpu_s is None else result.cpu_s
    return result


def _fingerprint(package: str, preset_name: str, preset: Any, seeds: Sequence[int], args: argparse.Namespace) -> dict:
    return {
        "package": package,
        "preset": preset_name,
        "preset_settings": repr(preset),
        "seeds": list(seeds),
        "threads": args.threads,
        "device": str(args.device),
        "source_sha256": source_hash(package, "trainkit"),
    }


def run_bench(
    package: str,
    presets: Mapping[str, Any],
    build_spec: Callable[[BenchContext], BenchSpec],
    args: argparse.Namespace,
    argv: Sequence[str] | None = None,
) -> Path:
    """Run a package's benchmark as declared by ``build_spec``; write benchmark.json and plots; return its path.

    Finished runs are kept in ``<out>/partial`` until the document is written: rerunning the same command
    after a kill resumes there (``args.fresh`` discards them)."""
    preset = presets[args.preset]
    out = Path(args.out) if args.out is not None else default_out(package, args.preset)
    validate.output_dir(out)  # the default folder is probed too, before any work
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds if args.seeds is not None else args.default_seeds(preset)))
    state = BenchState(out, _fingerprint(package, args.preset, preset, seeds, args), getattr(args, "fresh", False))
    device = resolve_device(args.device)
    context = BenchContext(args.preset, preset, seeds, device, args.threads, out)
    spec = build_spec(context)
    missing = [name for name in REQUIRED_ARMS if name not in spec.arms]
    if missing:
        raise ValueError(f"{package}: the bench declares no {' or '.join(missing)} arm")
    (warmup, results, orders, extras, reused), wall, cpu = measure(
        functools.partial(_run_spec, spec, seeds, package, state, context.results)
    )
    doc = build_document(spec, args.preset, current_command(package, argv), device, results, orders, warmup, extras)
    doc["bench_cost"] = {
        "wall_s": wall + reused["wall_s"],
        "cpu_s": cpu + reused["cpu_s"],
        "covers": "warm-ups, every arm run and the extra comparisons"
        + (
            f"; {reused['runs']} runs and the extras came from an earlier, killed attempt (their own time is "
            "counted, that attempt's warm-ups are not)"
            if reused["runs"]
            else ""
        ),
    }
    path = write_document(out, doc)
    state.discard()
    if spec.plots is not None:
        spec.plots(doc, out)
    print(f"{package} bench ({args.preset}): wrote {path} ({wall / 60:.1f} min wall, {cpu / 60:.1f} CPU-min)")
    return path


def _run_spec(
    spec: BenchSpec, seeds: Sequence[int], package: str, state: BenchState, finished: dict[str, list[RunResult]]
) -> tuple[dict[str, Any], dict[str, list[RunResult]], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    reused = {"runs": state.finished(), "wall_s": 0.0, "cpu_s": 0.0}
    for path in state.folder.glob("run.*.json"):
        stored = json.loads(path.read_text())
        reused["wall_s"] += stored.get("wall_s") or 0.0
        reused["cpu_s"] += stored.get("cpu_s") or 0.0
    warmup = _warm_up(spec, arm_order(list(spec.arms), 0))
    arms = {name: arm.run for name, arm in spec.arms.items()}
    limits = {name: arm.max_seeds for name, arm in spec.arms.items() if arm.max_seeds is not None}
    if limits.keys() & set(REQUIRED_ARMS):
        raise ValueError(f"{package}: the headline arms run on every seed (max_seeds is for decomposition arms)")
    results, orders = run_interleaved(arms, seeds, f"{package} bench", arm_order, state, limits)
    finished.update(results)
    stored_extras = state.load_extras()
    if stored_extras is not None:
        extras = stored_extras["extras"]
        reused["wall_s"] += stored_extras["wall_s"]
        reused["cpu_s"] += stored_extras["cpu_s"]
    else:
        found, extra_wall, extra_cpu = measure(spec.extra_comparisons or dict)
        # as JSON holds them, so a resumed bench hands the opponents exactly what a fresh one does
        extras = json.loads(json.dumps(found, default=_json_default))
        state.save_extras(extras, extra_wall, extra_cpu)
    return warmup, results, orders, extras, reused
