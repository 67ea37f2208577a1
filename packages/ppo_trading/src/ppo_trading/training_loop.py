"""Walk-forward RecurrentPPO training; "original" and "optimized" are two configurations of it.

Read :func:`train_walk_forward_optimized` top to bottom: it is the whole algorithm. Per iteration
(one walk-forward window) it picks the timestep budget, the hyperparameters and the starting
weights, trains ``parallel_candidates`` candidates on the train window with validation checks
(and early stopping), keeps the best on validation, verifies it and checkpoints. After the last
iteration the final model is evaluated once on the untouched test block, next to the baselines.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ppo_trading.candidates import CandidateResult, CandidateSpec, run_candidates
from ppo_trading.config import (
    BASE_HYPERPARAMETERS,
    CUSTOM_SCHEDULE,
    TRAINING_SCHEDULES,
    TrainingConfig,
    calculate_adaptive_timesteps,
)
from ppo_trading.data import data_sha256
from ppo_trading.features import FeatureCache, FeatureConfig, compute_features, standardize
from ppo_trading.policy_store import (
    check_policy_file,
    file_sha256,
    load_policy,
    resolve_inside,
)
from ppo_trading.run_report import (
    build_summary,
    data_span,
    evaluate_on_test,
    plot_equity_curves,
    stitched_report,
    write_json_atomic,
)
from ppo_trading.walk_forward import Window, make_split, select_on_validation
from trainkit import (
    BatchedCSVLogger,
    CheckpointError,
    ConfigError,
    Stopwatch,
    atomic_write,
    load_checkpoint,
    progress_bar,
    require,
    save_checkpoint,
)
from trainkit.run_folder import claim_run_folder

LOG_FIELDS = [
    "iteration",
    "candidate",
    "seed",
    "timesteps_budget",
    "env_steps",
    "val_score",
    "selected",
    "early_stopped",
    "warm_started",
    "phase",
    "learning_rate",
    "n_epochs",
    "train_s",
    "eval_s",
    "iteration_s",
    "env_steps_per_s",
    "evals",
]


PROGRESS_KIND = "progress"


def read_progress(path: Path, run_dir: Path, config: TrainingConfig, data_hash: str) -> dict[str, Any]:
    """The progress checkpoint, checked key by key; the model it names must sit inside ``run_dir`` and hash right."""
    state = load_checkpoint(path, package="ppo_trading", kind=PROGRESS_KIND)
    if state.get("fingerprint") != config.fingerprint() or state.get("data_sha256") != data_hash:
        raise ConfigError(f"{run_dir} holds a run with other data or settings; pick another --results_dir or remove it")
    for key, kind in (("completed", int), ("log_rows", int), ("iterations", list)):
        require(state, key, kind, source=path)
    if not 0 <= state["completed"] == len(state["iterations"]) or state["log_rows"] < 0:
        raise CheckpointError(f"{path}: completed, iterations and log rows disagree; refused")
    if state["completed"] > 0:
        check_policy_file(
            resolve_inside(run_dir, state.get("best_model")), require(state, "best_sha256", str, source=path)
        )
    return state


def publish_best_model(run_dir: Path, relative: str, sha256: str) -> Path:
    """Copy the selected model to ``best_model.pt`` only after it loads and hashes right; atomic."""
    source = resolve_inside(run_dir, relative)
    load_policy(source, sha256)
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{source}: changed while being published; refused")
    target = run_dir / "best_model.pt"
    if not (target.is_file() and file_sha256(target) == sha256):
        with atomic_write(target, "wb") as handle:
            handle.write(data)
    return target


def _hyperparameters(config: TrainingConfig, iteration: int, n_iterations: int) -> tuple[str, dict[str, float]]:
    if config.custom_schedule is not None:
        return config.custom_schedule, {**BASE_HYPERPARAMETERS, **CUSTOM_SCHEDULE[config.custom_schedule]}
    if config.progressive_training:
        phase = TRAINING_SCHEDULES.phase_at(iteration / max(n_iterations, 1))
        return phase.name, dict(phase.params)
    return "fixed", dict(BASE_HYPERPARAMETERS)


def _features(df: pd.DataFrame, config: TrainingConfig, feature_config: FeatureConfig, stopwatch: Stopwatch):
    """Raw features: from the hash-keyed cache, or recomputed (the original rebuilt them every time)."""
    with stopwatch.section("features"):
        if config.cache_environments:
            return FeatureCache(config.feature_cache_dir).features(df, feature_config)
        return compute_features(df, feature_config)


def _budget(config: TrainingConfig, iteration: int) -> int:
    if not config.adaptive_timesteps:
        return config.total_timesteps
    return calculate_adaptive_timesteps(iteration, config.total_timesteps, config.min_timesteps, config.timestep_decay)


def _candidate_specs(
    config: TrainingConfig,
    window: Window,
    features: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray],
    run_dir: Path,
    state: dict[str, Any],
    timesteps: int,
    params: dict[str, float],
) -> list[CandidateSpec]:
    """Plain-data specs, one per candidate; warm starts name the verified last good model."""
    i = window.index
    warm = resolve_inside(run_dir, state["best_model"]) if config.warm_start and i > 0 else None
    return [
        CandidateSpec(
            config=config,
            window=window,
            seed=config.seed * 1_000 + i * 10 + c,
            timesteps=timesteps,
            hyperparameters=params,
            features=features,
            open_prices=prices[0],
            close_prices=prices[1],
            spread_points=prices[2],
            warm_start_path=None if warm is None else str(warm),
            warm_start_sha256=None if warm is None else state["best_sha256"],
            out_path=str(run_dir / "iterations" / f"iter{i:03d}_cand{c}.pt"),
        )
        for c in range(config.parallel_candidates)
    ]


def _select(results: list[CandidateResult], iteration: int) -> CandidateResult:
    """The best candidate on validation, verified (it loads, its hash matches) before it becomes the last good one."""
    _, best_path = select_on_validation([(r.val_score, r.model_path) for r in results])
    best = next(r for r in results if r.model_path == best_path)
    if best.model_sha256 is None:
        raise RuntimeError(f"iteration {iteration}: no candidate was ever scored on validation")
    load_policy(best.model_path, best.model_sha256)
    return best


def _log_candidates(logger: BatchedCSVLogger, specs, results, best, phase: str, params, started: float) -> None:
    for c, (spec, result) in enumerate(zip(specs, results)):
        logger.log(
            {
                "iteration": spec.window.index,
                "candidate": c,
                "seed": spec.seed,
                "timesteps_budget": spec.timesteps,
                "env_steps": result.env_steps,
                "val_score": round(result.val_score, 6),
                "selected": int(result is best),
                "early_stopped": int(result.early_stopped),
                "warm_started": int(spec.warm_start_path is not None),
                "phase": phase,
                "learning_rate": params["learning_rate"],
                "n_epochs": params["n_epochs"],
                "train_s": round(result.wall_s, 4),
                "eval_s": round(result.eval_s, 4),
                "iteration_s": round(time.perf_counter() - started, 4),
                "env_steps_per_s": round(result.env_steps / max(result.wall_s, 1e-9), 2),
                "evals": " ".join(f"{step}:{score:.4f}" for step, score in result.evals),
            }
        )
    logger.flush()  # rows reach the file before the checkpoint that counts them


def _iteration_record(specs, results, best: CandidateResult, started: float) -> dict[str, Any]:
    return {
        "iteration": specs[0].window.index,
        "timesteps_budget": specs[0].timesteps,
        "env_steps": sum(r.env_steps for r in results),
        "early_stops": sum(int(r.early_stopped) for r in results),
        "warm_started": specs[0].warm_start_path is not None,
        "val_score": best.val_score,
        "val_equity": best.val_equity,
        "val_positions": best.val_positions,
        "wall_s": time.perf_counter() - started,
        "eval_s": sum(r.eval_s for r in results),
        "validation_checks": sum(len(r.evals) for r in results),
    }


def _progress_text(config: TrainingConfig, state: dict[str, Any], reference_iteration_s) -> str:
    done = state["iterations"]
    steps = sum(it["env_steps"] for it in done)
    fixed = config.total_timesteps * config.parallel_candidates * len(done)
    own_s = [it["wall_s"] for it in done]
    speedup = ""
    if reference_iteration_s is not None and len(reference_iteration_s) >= len(own_s):
        speedup = f" speedup={sum(reference_iteration_s[: len(own_s)]) / sum(own_s):.2f}x"
    last = done[-1]
    return (
        f"T={last['timesteps_budget']} saved={fixed - steps} step_ratio={fixed / steps:.2f}x "
        f"iter={sum(own_s) / len(own_s):.1f}s{speedup} val={last['val_score']:.3f}"
    )


def _walk_forward_tensorboard(config: TrainingConfig) -> Path | None:
    """The log's TensorBoard run, next to SB3's per-candidate runs (``iter000_cand0_1``...)."""
    return None if config.tensorboard_dir is None else Path(config.tensorboard_dir) / "walk_forward"


def _open_run(run_dir: Path, config: TrainingConfig, data_hash: str) -> dict[str, Any]:
    """A fresh state, or the checked state of the run this folder holds."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "iterations").mkdir(exist_ok=True)
    claim_run_folder(run_dir, recursive=True)
    state: dict[str, Any] = {"completed": 0, "best_model": None, "best_sha256": None, "log_rows": 0, "iterations": []}
    if (run_dir / "progress.pt").exists():
        state = read_progress(run_dir / "progress.pt", run_dir, config, data_hash)
    state.update(fingerprint=config.fingerprint(), data_sha256=data_hash)
    return state


def train_walk_forward_optimized(
    df: pd.DataFrame,
    config: TrainingConfig,
    run_dir: str | os.PathLike[str],
    reference_iteration_s: Sequence[float] | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train every walk-forward iteration into ``run_dir``, resuming after the last finished one.

    With ``reference_iteration_s`` (an original run's measured iteration times on the same data and
    seed) the progress bar shows the speedup achieved so far. ``extra_summary`` (the CLI's costs and data
    provenance) is merged into the summary; on synthetic bars the verdict says so. Writes ``training_log.csv``,
    ``best_model.pt``, ``test_metrics.json``, ``equity_curve.png`` and ``optimization_summary.json``;
    returns the summary.
    """
    config.check()
    run_dir = Path(run_dir)
    torch.set_num_threads(config.torch_threads)
    feature_config = FeatureConfig(point=config.point_size)
    split = make_split(len(df), feature_config.warmup, config.iterations, config.train_bars, config.val_bars,
                       test_fraction=config.test_fraction)  # fmt: skip
    data_hash = data_sha256(df)
    prices = (df["open"].to_numpy(float), df["close"].to_numpy(float), df["spread"].to_numpy(float))
    state = _open_run(run_dir, config, data_hash)
    resumed_from = state["completed"]
    if resumed_from and config.verbose:
        n = len(split.windows)
        then = f"continuing at iteration {resumed_from}" if resumed_from < n else "evaluating the test block again"
        print(f"resuming {run_dir}: {resumed_from} of {n} walk-forward iterations done (progress.pt), {then}",
              file=sys.stderr)  # fmt: skip
    # Rows of an iteration killed before its checkpoint are dropped: that iteration is trained again below.
    logger = BatchedCSVLogger(run_dir / "training_log.csv", LOG_FIELDS, batch_size=64, keep_rows=state["log_rows"],
                              tensorboard_dir=_walk_forward_tensorboard(config), step_field="iteration")  # fmt: skip
    stopwatch = Stopwatch()
    bar = progress_bar(total=len(split.windows), initial=resumed_from, desc=f"{config.mode} seed={config.seed}",
                       unit="iter", disable=config.verbose == 0)  # fmt: skip
    with logger, bar:
        for window in split.windows[resumed_from:]:
            started = time.perf_counter()
            raw = _features(df, config, feature_config, stopwatch)
            features, _, _ = standardize(raw, slice(window.train_start, window.train_end), feature_config.clip)
            phase, params = _hyperparameters(config, window.index, len(split.windows))
            specs = _candidate_specs(config, window, features, prices, run_dir, state, _budget(config, window.index),
                                     params)  # fmt: skip
            with stopwatch.section("train"):
                results = run_candidates(specs, config.backend, config.max_workers)
            best = _select(results, window.index)
            _log_candidates(logger, specs, results, best, phase, params, started)
            state["iterations"].append(_iteration_record(specs, results, best, started))
            state.update(completed=window.index + 1, best_model=Path(best.model_path).relative_to(run_dir).as_posix(),
                         best_sha256=best.model_sha256, log_rows=logger.rows_written)  # fmt: skip
            save_checkpoint(run_dir / "progress.pt", state, package="ppo_trading", kind=PROGRESS_KIND)
            bar.set_postfix_str(_progress_text(config, state, reference_iteration_s))
            bar.update(1)
            if config.verbose >= 2:
                it = state["iterations"][-1]
                bar.write(f"iteration {window.index}: phase {phase}, lr {params['learning_rate']}, budget "
                          f"{it['timesteps_budget']}, steps {it['env_steps']}, early stops {it['early_stops']}, "
                          f"val {it['val_score']:.4f}, {it['wall_s']:.1f} s")  # fmt: skip

    best_model = publish_best_model(run_dir, state["best_model"], state["best_sha256"])
    last = split.windows[-1]
    raw = _features(df, config, feature_config, stopwatch)
    features, _, _ = standardize(raw, slice(last.train_start, last.train_end), feature_config.clip)
    with stopwatch.section("test"):
        test = evaluate_on_test(best_model, state["best_sha256"], features, prices, split, config)
        test["walk_forward_out_of_sample"] = stitched_report(state["iterations"], split, features, prices, test, config)
    write_json_atomic(run_dir / "test_metrics.json", test)
    plot_equity_curves(test["equity_curves"], run_dir / "equity_curve.png", title=f"test block, seed {config.seed}")
    summary = build_summary(config, state, test, data_hash, len(split.windows), split)
    summary["resumed_from_iteration"] = resumed_from
    summary["data_span"] = data_span(df["time"], split)
    summary.update(extra_summary or {})
    if (extra_summary or {}).get("data_provenance", {}).get("synthetic"):
        summary["verdict"] = f"on SYNTHETIC bars, not market data: {summary['verdict']}"
    write_json_atomic(run_dir / "optimization_summary.json", summary)
    return summary
