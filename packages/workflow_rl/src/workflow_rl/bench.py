"""``bench``: original vs fast trainer under the benchmark contract, plus throughput and peers.

The contract's runs train one workflow against bline for the same number of episodes with the same
seeds, interleaved; speedup = original / fast wall time, quality = the trained policy's mean env
return on fresh episodes. ``extra_comparisons`` holds the throughput table (both paths at N = 8, 16,
32, the fast path up to 512, random-policy env-only ceilings, the time split), SB3 PPO with
``SubprocVecEnv`` on the single-env wrapper, and the scripted baselines.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from trainkit import RunResult, build_benchmark, resolve_device, run_interleaved, write_benchmark
from trainkit.benchmark import current_command
from workflow_rl.baselines import BASELINES, evaluate_policy, make_baseline
from workflow_rl.config import TrainConfig, TrainResult, with_trainer
from workflow_rl.shm_engine import SharedMemoryEngine
from workflow_rl.sim import EPISODE_STEPS, N_ACTIONS, NetDefenseEnv, NetDefenseSim
from workflow_rl.trainer import train
from workflow_rl.workflows import DEFAULT_ALIGNMENT_LAMBDA, parse_workflow, workflow_name

__all__ = ["BENCH_WORKFLOW", "PRESETS", "run_bench"]

BENCH_WORKFLOW = parse_workflow("op_server,enterprise,defender,op_host,user")
TORCH_THREADS = 1
PRESETS: dict[str, dict[str, Any]] = {
    "ci": {
        "seeds": 1,
        "learn_envs": 8,
        "learn_episodes": 32,
        "quality_envs": 32,
        "quality_episodes": 32,
        "paths_n": (8,),
        "fast_n": (8, 32),
        "repeats": 1,
        "rounds": 1,
        "sb3_envs": 2,
        "sb3_steps": 400,
        "baseline_episodes": 100,
        "eval_episodes": 50,
    },
    "quick": {
        "seeds": 3,
        "learn_envs": 32,
        "learn_episodes": 160,
        "quality_envs": 64,
        "quality_episodes": 1536,
        "paths_n": (8, 16, 32),
        "fast_n": (8, 16, 32, 64, 128, 512),
        "repeats": 3,
        "rounds": 1,
        "sb3_envs": 8,
        "sb3_steps": 3200,
        "baseline_episodes": 500,
        "eval_episodes": 200,
    },
    "full": {
        "seeds": 5,
        "learn_envs": 32,
        "learn_episodes": 3200,
        "quality_envs": 64,
        "quality_episodes": 6400,
        "paths_n": (8, 16, 32),
        "fast_n": (8, 16, 32, 64, 128, 200, 256, 512, 1024),
        "repeats": 3,
        "rounds": 4,
        "sb3_envs": 8,
        "sb3_steps": 32000,
        "baseline_episodes": 1000,
        "eval_episodes": 500,
    },
}


def _config(path: str, n_envs: int, episodes: int, seed: int, out: Path, device: str, eval_episodes: int):
    base = TrainConfig(
        n_envs=n_envs,
        total_episodes=episodes,
        max_episodes=episodes,
        red_agent="bline",
        workflow=BENCH_WORKFLOW,
        seed=seed,
        device=device,
        out=out,
        compliance_threshold=None,  # the same number of episodes for both paths
        torch_threads=TORCH_THREADS,
        checkpoint_every_s=float("inf"),
        eval_episodes=eval_episodes,
    )
    return with_trainer(base, path)


def _train(path: str, n_envs: int, episodes: int, seed: int, device: str, eval_episodes: int = 50) -> TrainResult:
    with tempfile.TemporaryDirectory(prefix=f"wfrl_bench_{path}_") as folder:
        return train(_config(path, n_envs, episodes, seed, Path(folder), device, eval_episodes), show_progress=False)


def _learning_run(path: str, settings: dict[str, Any], device: str) -> Callable[[int], RunResult]:
    def run(seed: int) -> RunResult:
        result = _train(
            path, settings["learn_envs"], settings["learn_episodes"], seed, device, settings["eval_episodes"]
        )
        return RunResult(
            seed=seed,
            wall_s=result.wall_s,
            work={"episodes": float(result.episodes), "env_steps": float(result.env_steps)},
            quality=result.eval_return,
            extra={
                "episodes_per_s": result.episodes_per_s,
                "eval_compliance": result.eval_compliance,
                "updates": result.updates,
                "loop_s": result.loop_s,
                "time_split_s": result.time_split,
                "curve": result.curve,
            },
        )

    return run


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _env_ceiling(engine_kind: str, n_envs: int, rounds: int, seed: int) -> float:
    """Env steps/s with uniformly random actions and no learner (the engine's physical limit)."""
    rng = np.random.default_rng(seed)
    if engine_kind == "batched":
        engine = NetDefenseSim(n_envs, "bline", BENCH_WORKFLOW, DEFAULT_ALIGNMENT_LAMBDA, seed=seed)
    else:
        engine = SharedMemoryEngine(n_envs, "bline", BENCH_WORKFLOW, DEFAULT_ALIGNMENT_LAMBDA, seed)
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            engine.reset()
            for _ in range(EPISODE_STEPS):
                engine.step(rng.integers(0, N_ACTIONS, size=n_envs))
        return n_envs * rounds * EPISODE_STEPS / (time.perf_counter() - started)
    finally:
        engine.close()


def _throughput(settings: dict[str, Any], device: str) -> dict[str, Any]:
    """Training eps/s and env steps/s (median of repeats) per path and N, with env-only ceilings."""
    rows: list[dict[str, Any]] = []
    splits: dict[str, dict[str, float]] = {}
    largest_shared = max(settings["paths_n"])
    for n_envs in sorted(set(settings["paths_n"]) | set(settings["fast_n"])):
        paths = ["original", "fast"] if n_envs in settings["paths_n"] else ["fast"]
        for path in paths:
            speeds, totals = [], {}
            for repeat in range(settings["repeats"]):
                result = _train(path, n_envs, n_envs * settings["rounds"], repeat, device)
                speeds.append(result.episodes_per_s)
                for name, seconds in result.time_split.items():
                    totals[name] = totals.get(name, 0.0) + seconds
            engine = "shared_memory" if path == "original" else "batched"
            ceiling = _median([_env_ceiling(engine, n_envs, settings["rounds"], r) for r in range(settings["repeats"])])
            eps = _median(speeds)
            rows.append(
                {
                    "path": path,
                    "n_envs": n_envs,
                    "episodes_per_s": eps,
                    "env_steps_per_s": eps * EPISODE_STEPS,
                    "ceiling_env_steps_per_s": ceiling,
                    "share_of_ceiling": eps * EPISODE_STEPS / ceiling,
                    "repeats": settings["repeats"],
                }
            )
            if n_envs == largest_shared:
                total = sum(totals.values())
                splits[path] = {name: seconds / total for name, seconds in sorted(totals.items())}
    by_key = {(r["path"], r["n_envs"]): r for r in rows}
    ratios = {
        n: by_key[("fast", n)]["episodes_per_s"] / by_key[("original", n)]["episodes_per_s"]
        for n in settings["paths_n"]
    }
    top = max(settings["fast_n"])
    at = by_key[("fast", largest_shared)]
    summary = (
        "fast/original training eps/s: "
        + ", ".join(f"{ratios[n]:.1f}x at N={n}" for n in settings["paths_n"])
        + f" (goal >= 20x at N=32); fast reaches {by_key[('fast', top)]['episodes_per_s']:.0f} eps/s at N={top}; "
        f"at N={largest_shared} fast runs at {at['share_of_ceiling']:.0%} of its random-policy env ceiling "
        f"(goal >= 50%), original at {by_key[('original', largest_shared)]['share_of_ceiling']:.0%} of its own"
    )
    split_text = "; ".join(
        f"{path}: " + ", ".join(f"{name} {share:.0%}" for name, share in split.items())
        for path, split in splits.items()
    )
    return {
        "summary": summary,
        "rows": rows,
        "fast_over_original_eps": {str(n): r for n, r in ratios.items()},
        "time_split": {"summary": f"time split at N={largest_shared}: {split_text}", "shares": splits},
        "torch_threads": TORCH_THREADS,
    }


def _sb3_peer(settings: dict[str, Any], device: str) -> dict[str, Any]:
    """SB3 PPO + SubprocVecEnv on the single-env wrapper vs the fast trainer, same N and env steps."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv

    n_envs, steps = settings["sb3_envs"], settings["sb3_steps"]
    make_env = functools.partial(NetDefenseEnv, red_agent="bline", workflow=BENCH_WORKFLOW)
    vec_env = SubprocVecEnv([make_env] * n_envs, start_method="fork")
    try:
        model = PPO(
            "MlpPolicy",
            vec_env,
            n_steps=50,
            batch_size=max(1, n_envs * 50 // 4),
            n_epochs=4,
            learning_rate=1e-3,
            seed=0,
            device="cpu",
            verbose=0,
        )
        started = time.perf_counter()
        model.learn(total_timesteps=steps)
        sb3_steps_per_s = model.num_timesteps / (time.perf_counter() - started)
    finally:
        vec_env.close()
    fast = _train("fast", n_envs, max(n_envs, steps // EPISODE_STEPS), 0, device)
    ratio = fast.steps_per_s / sb3_steps_per_s
    return {
        "summary": (
            f"fast trainer {fast.steps_per_s:.0f} env steps/s vs SB3 PPO + SubprocVecEnv {sb3_steps_per_s:.0f} "
            f"at N={n_envs}, {steps} env steps: {ratio:.1f}x (goal >= 3x)"
        ),
        "n_envs": n_envs,
        "env_steps": steps,
        "sb3_steps_per_s": sb3_steps_per_s,
        "fast_steps_per_s": fast.steps_per_s,
        "fast_over_sb3": ratio,
    }


def _engine_ablation(settings: dict[str, Any], results: dict[str, list[RunResult]], device: str) -> dict[str, Any]:
    """The fast engine with the original's 100-step updates: isolates the engine from the update cadence."""
    returns = {}
    for run in results["original"]:
        with tempfile.TemporaryDirectory(prefix="wfrl_bench_ablation_") as folder:
            config = _config(
                "fast",
                settings["learn_envs"],
                settings["learn_episodes"],
                run.seed,
                Path(folder),
                device,
                settings["eval_episodes"],
            )
            returns[run.seed] = train(replace(config, update_steps=100), show_progress=False).eval_return
    deltas = [returns[run.seed] - run.quality for run in results["original"]]
    return {
        "summary": (
            f"fast engine with 100-step updates vs original, same seeds and episodes: median return delta "
            f"{_median(deltas):+.1f} (per seed {', '.join(f'{d:+.0f}' for d in deltas)}); "
            "what differs is the update cadence, not the engine"
        ),
        "returns": {str(seed): value for seed, value in returns.items()},
        "deltas_vs_original": deltas,
    }


def _fast_quality(settings: dict[str, Any], device: str) -> dict[str, Any]:
    """A longer fast-path run: how far past react_restore the trained agent gets in a short budget."""
    result = _train(
        "fast", settings["quality_envs"], settings["quality_episodes"], 0, device, settings["eval_episodes"]
    )
    react = evaluate_policy(make_baseline("react_restore"), "bline", BENCH_WORKFLOW, settings["baseline_episodes"])
    margin = result.eval_return - react["return_mean"]
    return {
        "summary": (
            f"fast path, {result.episodes} episodes at N={settings['quality_envs']} in {result.wall_s:.0f} s: "
            f"return {result.eval_return:.0f} vs react_restore {react['return_mean']:.0f} ({margin:+.0f}), "
            f"compliance {result.eval_compliance:.2f}"
        ),
        "episodes": result.episodes,
        "wall_s": result.wall_s,
        "eval_return": result.eval_return,
        "eval_compliance": result.eval_compliance,
        "react_restore_return": react["return_mean"],
        "margin_over_react_restore": margin,
    }


def _baselines(settings: dict[str, Any], results: dict[str, list[RunResult]]) -> dict[str, Any]:
    scores = {
        name: evaluate_policy(make_baseline(name, seed=0), "bline", BENCH_WORKFLOW, settings["baseline_episodes"])
        for name in BASELINES
    }
    trained = {mode: _median([r.quality for r in runs]) for mode, runs in results.items()}
    margin = trained["optimized"] - scores["react_restore"]["return_mean"]
    return {
        "summary": (
            "mean env return vs bline: "
            + ", ".join(f"{name} {s['return_mean']:.0f}" for name, s in scores.items())
            + f"; trained fast {trained['optimized']:.0f}, original {trained['original']:.0f} "
            f"(fast - react_restore = {margin:+.0f})"
        ),
        "workflow": workflow_name(BENCH_WORKFLOW),
        "baselines": scores,
        "trained_median_return": trained,
    }


def _plots(out: Path, results: dict[str, list[RunResult]], throughput: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, color in (("original", "tab:red"), ("optimized", "tab:blue")):
        for index, run in enumerate(results[mode]):
            curve = np.array(run.extra["curve"])
            if len(curve):
                ax.plot(curve[:, 0], curve[:, 1], color=color, alpha=0.7, label=mode if index == 0 else None)
    ax.set(xlabel="episodes", ylabel="mean env return of the batch", title="learning vs bline (same seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for path, color in (("original", "tab:red"), ("fast", "tab:blue")):
        rows = [r for r in throughput["rows"] if r["path"] == path]
        n = [r["n_envs"] for r in rows]
        ax.plot(n, [r["env_steps_per_s"] for r in rows], "o-", color=color, label=f"{path} training")
        ax.plot(n, [r["ceiling_env_steps_per_s"] for r in rows], "x--", color=color, label=f"{path} env-only")
    ax.set(xscale="log", yscale="log", xlabel="N envs", ylabel="env steps/s", title="throughput")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=100)
    plt.close(fig)


def run_bench(preset: str, seeds: int | None, out: Path, device: str = "auto") -> Path:
    settings = PRESETS[preset]
    device_name = str(resolve_device(device))
    torch.set_num_threads(TORCH_THREADS)
    n_seeds = seeds if seeds is not None else settings["seeds"]
    results = run_interleaved(
        {
            "original": _learning_run("original", settings, device_name),
            "optimized": _learning_run("fast", settings, device_name),
        },
        seeds=range(n_seeds),
        desc="workflow_rl bench",
    )
    throughput = _throughput(settings, device_name)
    extra = {
        "throughput": throughput,
        "time_split": throughput.pop("time_split"),
        "sb3_subproc_peer": _sb3_peer(settings, device_name),
        "engine_ablation": _engine_ablation(settings, results, device_name),
        "fast_quality": _fast_quality(settings, device_name),
        "baselines": _baselines(settings, results),
    }
    doc = build_benchmark(
        "workflow_rl",
        preset,
        current_command("workflow_rl"),
        results,
        quality_metric="mean env return vs bline after training",
        higher_is_better=True,
        device=device_name,
        speedup_basis="wall_s",
        non_inferiority_margin=30.0,
        extra_comparisons=extra,
        notes=[
            f"{settings['learn_episodes']} episodes at N={settings['learn_envs']} per run, workflow "
            f"{workflow_name(BENCH_WORKFLOW)}; original updates every 100 steps, fast every 50 (GAE bootstrap)",
            f"torch threads {TORCH_THREADS} for every mode; returns are this simulator's, not CAGE-2 scores",
        ],
    )
    out.mkdir(parents=True, exist_ok=True)
    _plots(out, results, throughput)
    return write_benchmark(out, doc)


def add_arguments(parser) -> None:
    """The ``bench`` subcommand's flags."""
    from trainkit.benchmark import add_bench_arguments

    add_bench_arguments(parser)


def run(args) -> int:
    path = run_bench(args.preset, args.seeds, args.out or Path("reports/bench/workflow_rl"), args.device)
    print(f"wrote {path}")
    return 0
