"""``python -m ppo_trading bench``: original vs optimized, interleaved, same data and seeds, measured.

Besides the two modes it measures an ablation (optimized with one optimization removed), raw
RecurrentPPO steps/s at our network size, fast vs sequential evaluation, the feature cache and the
baselines on the test block. Run folders live in a temporary directory; only JSON and PNGs stay.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_trading.data import data_sha256, generate_synthetic_xauusd
from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import evaluate_model
from ppo_trading.features import FeatureCache, FeatureConfig, compute_features, standardize
from ppo_trading.policy_store import load_policy
from ppo_trading.presets import BENCH_DATA_SEED, PRESETS, Preset
from ppo_trading.utils.training_utils_optimized import (
    BASE_HYPERPARAMETERS,
    NETWORK,
    TrainingConfig,
    calculate_adaptive_timesteps,
    train_walk_forward_optimized,
)
from ppo_trading.walk_forward import make_split
from trainkit import ConfigError, RunResult, build_benchmark, resolve_device, run_cli, run_interleaved, write_benchmark
from trainkit.benchmark import add_bench_arguments, current_command

__all__ = ["ABLATIONS", "main", "run_bench"]

TORCH_THREADS = 1
QUALITY_MARGIN_PCT = 1.0  # non-inferiority margin on test total return, percentage points

# name -> (base mode, overrides)
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "no_adaptive_timesteps": ("optimized", {"adaptive_timesteps": False}),
    "no_warm_start": ("optimized", {"warm_start": False}),
    "no_early_stopping": ("optimized", {"early_stopping_patience": 0}),
    "no_progressive_training": ("optimized", {"progressive_training": False}),
    "no_fast_evaluation": ("optimized", {"fast_evaluation": False}),
    "no_cache_environments": ("optimized", {"cache_environments": False}),
    "only_adaptive_timesteps": ("original", {"adaptive_timesteps": True}),
}


def _config(mode: str, preset: Preset, seed: int, device: str, cache_dir: Path, **overrides: Any) -> TrainingConfig:
    sizes = {
        "seed": seed,
        "total_timesteps": preset.total_timesteps,
        "min_timesteps": preset.min_timesteps,
        "iterations": preset.iterations,
        "eval_freq": preset.eval_freq,
        "device": device,
        "torch_threads": TORCH_THREADS,
        "feature_cache_dir": str(cache_dir),
        "verbose": 0,
    }
    factory = TrainingConfig.original if mode == "original" else TrainingConfig.optimized
    return factory(**{**sizes, **overrides})


def _run(df: pd.DataFrame, config: TrainingConfig, run_dir: Path) -> RunResult:
    started = time.perf_counter()
    summary = train_walk_forward_optimized(df, config, run_dir)
    wall = time.perf_counter() - started
    test, baselines = summary["test_metrics"], summary["baseline_metrics"]
    return RunResult(
        seed=config.seed,
        wall_s=wall,
        work={"env_steps": summary["env_steps_total"], "iterations": summary["iterations"]},
        quality=100.0 * test["total_return"],
        extra={
            "steps_per_s": summary["env_steps_total"] / wall,
            "eval_s": summary["eval_seconds"],
            "early_stops": summary["early_stops"],
            "warm_starts": summary["warm_starts"],
            "test_sharpe": test["sharpe"],
            "test_max_drawdown": test["max_drawdown"],
            "test_trades": test["trades"],
            "buy_and_hold_return_pct": 100.0 * baselines["buy_and_hold"]["total_return"],
            "baselines": baselines,
            "run_dir": run_dir.name,
        },
    )


def measure_throughput(df: pd.DataFrame, steps: int, device: str) -> dict[str, Any]:
    """Raw RecurrentPPO ``learn`` steps/s at our network size on a training window, no callbacks."""
    config = TrainingConfig()
    window = make_split(len(df), FeatureConfig().warmup, iterations=1).windows[0]
    features, _, _ = standardize(compute_features(df), slice(window.train_start, window.train_end))
    prices = (df["open"].to_numpy(float), df["close"].to_numpy(float), df["spread"].to_numpy(float))
    env = DummyVecEnv(
        [
            lambda: GoldTradingEnv(
                features, *prices, start=window.train_start, end=window.train_end, episode_length=config.episode_length
            )
            for _ in range(config.n_envs)
        ]
    )
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        policy_kwargs=NETWORK,
        seed=0,
        device=device,
        **BASE_HYPERPARAMETERS,
    )
    started = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - started
    sps = model.num_timesteps / seconds
    return {
        "summary": f"raw RecurrentPPO.learn at our size (LSTM 64, heads [64], {config.n_envs} envs x "
        f"{config.n_steps} steps, batch {config.batch_size}, 1 torch thread): {sps:.0f} env steps/s",
        "env_steps": int(model.num_timesteps),
        "seconds": seconds,
        "steps_per_s": sps,
        "torch_threads": torch.get_num_threads(),
        "network": NETWORK,
    }


def compare_evaluators(model_path: Path, df: pd.DataFrame) -> dict[str, Any]:
    """Sequential ``predict`` vs the fast evaluator on the test block: time and action equality."""
    split = make_split(len(df), FeatureConfig().warmup)
    features, _, _ = standardize(
        compute_features(df), slice(split.windows[-1].train_start, split.windows[-1].train_end)
    )
    prices = (df["open"].to_numpy(float), df["close"].to_numpy(float), df["spread"].to_numpy(float))
    model = load_policy(model_path)
    timings, actions = {}, {}
    for name in ("sequential", "fast"):
        env = GoldTradingEnv(features, *prices, start=split.test_start, end=split.test_end)
        started = time.perf_counter()
        actions[name] = evaluate_model(model, env, name).actions
        timings[name] = time.perf_counter() - started
    same = actions["sequential"] == actions["fast"]
    return {
        "summary": f"fast evaluation {timings['sequential'] / timings['fast']:.1f}x faster than sequential "
        f"predict over {len(actions['fast'])} test bars; identical actions: {same}",
        "sequential_s": timings["sequential"],
        "fast_s": timings["fast"],
        "bars": len(actions["fast"]),
        "identical_actions": same,
    }


def compare_cache(df: pd.DataFrame, cache_dir: Path) -> dict[str, Any]:
    cache = FeatureCache(cache_dir)
    started = time.perf_counter()
    uncached = compute_features(df)
    compute_s = time.perf_counter() - started
    cache.features(df)
    FeatureCache._memory.clear()
    started = time.perf_counter()
    cached = cache.features(df)
    load_s = time.perf_counter() - started
    equal = bool(np.array_equal(uncached, cached, equal_nan=True))
    return {
        "summary": f"features for {len(df)} bars: computed in {1000 * compute_s:.1f} ms, loaded from the "
        f"cache in {1000 * load_s:.1f} ms; cached == uncached exactly: {equal}",
        "compute_s": compute_s,
        "cache_load_s": load_s,
        "identical": equal,
    }


def _ablation(
    df: pd.DataFrame, preset: Preset, device: str, workdir: Path, reference: dict[str, RunResult]
) -> dict[str, Any]:
    """Seed 0: optimized with one optimization removed (and the reverse), against both modes' seed-0 runs."""
    rows = {
        "original": reference["original"],
        "optimized": reference["optimized"],
    }
    for name in preset.ablation:
        mode, overrides = ABLATIONS[name]
        config = _config(mode, preset, 0, device, workdir / "cache", **overrides)
        rows[name] = _run(df, config, workdir / f"ablation_{name}")
    base_wall = rows["original"].wall_s
    table = {
        name: {
            "wall_s": r.wall_s,
            "env_steps": r.work["env_steps"],
            "test_return_pct": r.quality,
            "speedup_vs_original": base_wall / r.wall_s,
            "wall_vs_optimized": r.wall_s / rows["optimized"].wall_s,
        }
        for name, r in rows.items()
    }
    parts = [
        f"{name} {cells['speedup_vs_original']:.2f}x ({cells['env_steps']} steps)" for name, cells in table.items()
    ]
    return {
        "summary": "seed 0, speedup vs original (wall): " + ", ".join(parts),
        "seed": 0,
        "rows": table,
        "how_to_read": "no_X = optimized with X switched off: wall_vs_optimized > 1 means X saves time",
    }


def _baselines(results: dict[str, list[RunResult]]) -> dict[str, Any]:
    baselines = results["original"][0].extra["baselines"]
    agent = {mode: statistics.median(r.quality for r in runs) for mode, runs in results.items()}
    cells = {name: 100.0 * m["total_return"] for name, m in baselines.items()}
    summary = ", ".join(f"{k} {v:.2f}%" for k, v in cells.items())
    return {
        "summary": f"test return (seed {results['original'][0].seed}): {summary}; agents (median over seeds): "
        f"original {agent['original']:.2f}%, optimized {agent['optimized']:.2f}%",
        "baselines": baselines,
        "agent_median_return_pct": agent,
    }


def _plots(out: Path, results: dict[str, list[RunResult]], ablation: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    seeds = [r.seed for r in results["original"]]
    x = np.arange(len(seeds))
    for offset, mode in ((-0.2, "original"), (0.2, "optimized")):
        left.bar(x + offset, [r.wall_s for r in results[mode]], width=0.4, label=mode)
        right.bar(x + offset, [r.quality for r in results[mode]], width=0.4, label=mode)
    bh = [r.extra["buy_and_hold_return_pct"] for r in results["original"]]
    right.plot(x, bh, "k_", markersize=30, label="buy and hold")
    left.set(xticks=x, xticklabels=seeds, xlabel="seed", ylabel="wall s", title="wall time per run")
    right.set(xticks=x, xticklabels=seeds, xlabel="seed", ylabel="test return %", title="test-block return")
    left.legend()
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ppo_trading_modes.png", dpi=90)
    plt.close(fig)

    rows = ablation["rows"]
    fig, ax = plt.subplots(figsize=(9, 4))
    names = list(rows)
    ax.barh(names, [rows[n]["speedup_vs_original"] for n in names], color="tab:blue")
    ax.axvline(1.0, color="grey", lw=1)
    ax.set(xlabel="speedup vs original (wall, seed 0)", title="ablation")
    fig.tight_layout()
    fig.savefig(out / "ppo_trading_ablation.png", dpi=90)
    plt.close(fig)


def run_bench(preset_name: str, n_seeds: int | None, out: Path, device_name: str) -> Path:
    preset = PRESETS[preset_name]
    if n_seeds is not None and n_seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {n_seeds}")
    seeds = list(range(n_seeds if n_seeds is not None else preset.seeds))
    device = str(resolve_device(device_name))
    torch.set_num_threads(TORCH_THREADS)
    df = generate_synthetic_xauusd(preset.max_bars or preset.bench_bars, BENCH_DATA_SEED)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ppo_trading_bench_") as tmp:
        workdir = Path(tmp)
        throughput = measure_throughput(df, steps=2 * preset.eval_freq, device=device)

        def mode_runner(mode: str):
            def run(seed: int) -> RunResult:
                config = _config(mode, preset, seed, device, workdir / "cache")
                return _run(df, config, workdir / f"{mode}_{seed}")

            return run

        results = run_interleaved({m: mode_runner(m) for m in ("original", "optimized")}, seeds, desc="ppo_trading")
        reference = {mode: results[mode][0] for mode in results}
        ablation = _ablation(df, preset, device, workdir, reference)
        evaluators = compare_evaluators(workdir / f"optimized_{seeds[0]}" / "best_model.pt", df)
        cache = compare_cache(df, workdir / "cache_check")
    n_iterations = results["original"][0].work["iterations"]
    budgets = [
        calculate_adaptive_timesteps(i, preset.total_timesteps, preset.min_timesteps) for i in range(int(n_iterations))
    ]
    planned_ratio = preset.total_timesteps * len(budgets) / sum(budgets)
    step_ratios = [a.work["env_steps"] / b.work["env_steps"] for a, b in zip(results["original"], results["optimized"])]
    extra = {
        "recurrent_ppo_throughput": throughput,
        "ablation": ablation,
        "evaluation": evaluators,
        "feature_cache": cache,
        "baselines": _baselines(results),
        "env_steps": {
            "summary": f"env steps original/optimized per seed: {', '.join(f'{r:.2f}x' for r in step_ratios)}; "
            f"the adaptive schedule alone plans {planned_ratio:.2f}x fewer steps over {n_iterations} iterations",
            "ratios": step_ratios,
            "adaptive_planned_ratio": planned_ratio,
        },
    }
    notes = [
        f"data: generate_synthetic_xauusd({len(df)}, seed={BENCH_DATA_SEED}), sha256 {data_sha256(df)[:16]}; "
        f"test block = last 20% ({len(df) - int(len(df) * 0.8)} bars), never used for training or selection",
        f"both modes: MlpLstmPolicy LSTM 64 / heads [64], 16 envs x 16 steps, batch 256, torch threads "
        f"{TORCH_THREADS}; {preset.iterations or 'all'} iterations, T_0 {preset.total_timesteps}, "
        f"T_min {preset.min_timesteps}, validation every {preset.eval_freq} env steps",
        f"quality = test-block total return in %; non-inferiority margin {QUALITY_MARGIN_PCT} percentage points",
    ]
    doc = build_benchmark(
        "ppo_trading",
        preset_name,
        current_command("ppo_trading"),
        results,
        quality_metric="test_total_return_pct",
        higher_is_better=True,
        device=device,
        non_inferiority_margin=QUALITY_MARGIN_PCT,
        extra_comparisons=extra,
        notes=notes,
    )
    path = write_benchmark(out, doc)
    _plots(out, results, ablation)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return add_bench_arguments(parser)


def bench_command(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else Path("reports/bench/ppo_trading")
    path = run_bench(args.preset, args.seeds, out, args.device)
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    def _main(arguments: Sequence[str] | None) -> int:
        parser = add_arguments(argparse.ArgumentParser(prog="ppo_trading-bench", description=__doc__))
        return bench_command(parser.parse_args(arguments))

    return run_cli(_main, argv, prog="ppo_trading-bench")
