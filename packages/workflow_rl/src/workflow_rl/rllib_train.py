"""RLlib's PPO on the single-env defence simulator (``python -m workflow_rl rllib``).

The env is registered with ``ray.tune.registry.register_env``; RLlib's env runners step
``num_envs_per_env_runner`` copies each, on RLlib's default (new) API stack: RLModule, Learner,
EnvRunner. After training, the greedy RLModule and the ``random`` baseline play the same seeded
episodes on the batched simulator. Import this module only after :func:`workflow_rl.distributed.require_ray`.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env

from trainkit import CheckpointError, ConfigError, atomic_write, progress_bar
from trainkit.harness import RunResult, run_interleaved
from workflow_rl.baselines import evaluate_policy, make_baseline
from workflow_rl.rllib_state import restore_learner_state, save_learner_state
from workflow_rl.sim import EPISODE_STEPS, RED_AGENTS, NetDefenseEnv
from workflow_rl.workflows import ALL_WORKFLOWS, DEFAULT_ALIGNMENT_LAMBDA, workflow_name

__all__ = [
    "ENV_NAME",
    "RLlibConfig",
    "build_algorithm",
    "check_scaling_arguments",
    "make_env",
    "measure_scaling",
    "resume_history",
    "train_rllib",
]

ENV_NAME = "workflow_rl-net_defense"
CHECKPOINT_DIR = "checkpoint"
REPORT_NAME = "rllib.json"
# Settings that must match for a rerun to resume from the checkpoint in the same --out.
RESUME_KEYS = ("envs_per_runner", "seed", "red_agent", "workflow", "alignment_lambda", "train_batch", "lr")


@dataclass(frozen=True)
class RLlibConfig:
    env_runners: int = 1
    envs_per_runner: int = 4
    iterations: int | None = 6  # total training iterations (a resumed run continues up to it)
    timesteps: int | None = None  # or: total env steps sampled
    seed: int = 0
    red_agent: str = "bline"
    workflow: tuple[int, ...] = ALL_WORKFLOWS[0]
    alignment_lambda: float = DEFAULT_ALIGNMENT_LAMBDA
    train_batch: int = 2000  # env steps per iteration (train_batch_size_per_learner)
    minibatch: int = 250
    epochs: int = 4
    lr: float = 1e-3
    eval_episodes: int = 200

    def validate(self) -> None:
        if self.env_runners < 0 or self.envs_per_runner < 1:
            raise ConfigError("--env-runners must be >= 0 and --envs-per-runner >= 1")
        if (self.iterations is None) == (self.timesteps is None):
            raise ConfigError("give exactly one of --iterations and --timesteps")
        if (self.iterations if self.iterations is not None else self.timesteps) < 1:
            raise ConfigError("--iterations and --timesteps must be >= 1")
        if self.red_agent not in RED_AGENTS:
            raise ConfigError(f"--red-agent must be one of {', '.join(RED_AGENTS)}")
        if self.train_batch < EPISODE_STEPS or self.minibatch < 1 or self.minibatch > self.train_batch:
            raise ConfigError(f"--train-batch must be >= {EPISODE_STEPS} and >= --minibatch >= 1")
        if self.eval_episodes < 1:
            raise ConfigError("--eval-episodes must be >= 1")


def make_env(env_config: dict[str, Any]) -> NetDefenseEnv:
    """The env creator RLlib's env runners call (``env_config`` comes from ``PPOConfig.environment``)."""
    return NetDefenseEnv(
        red_agent=env_config.get("red_agent", "bline"),
        workflow=tuple(env_config.get("workflow", ALL_WORKFLOWS[0])),
        alignment_lambda=env_config.get("alignment_lambda", DEFAULT_ALIGNMENT_LAMBDA),
    )


def build_algorithm(config: RLlibConfig) -> Algorithm:
    """RLlib PPO with ``config.env_runners`` env runners of ``config.envs_per_runner`` envs each."""
    register_env(ENV_NAME, make_env)
    ppo = (
        PPOConfig()
        .environment(
            ENV_NAME,
            env_config={
                "red_agent": config.red_agent,
                "workflow": list(config.workflow),
                "alignment_lambda": config.alignment_lambda,
            },
        )
        .env_runners(
            num_env_runners=config.env_runners,
            num_envs_per_env_runner=config.envs_per_runner,
            rollout_fragment_length="auto",
        )
        .training(
            train_batch_size_per_learner=config.train_batch,
            minibatch_size=config.minibatch,
            num_epochs=config.epochs,
            lr=config.lr,
            gamma=0.99,
            lambda_=0.95,
            entropy_coeff=0.01,
        )
        .debugging(seed=config.seed)
    )
    return ppo.build_algo()


def greedy_policy(algo: Algorithm):
    """The trained RLModule as a batched policy for :func:`workflow_rl.baselines.evaluate_policy`."""
    module = algo.get_module()

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = module.forward_inference({"obs": torch.as_tensor(obs)})["action_dist_inputs"]
        return logits.argmax(-1).numpy()

    return act


def _iteration_record(result: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of the learning curve; numbered by our history, since RLlib's counter restarts on resume."""
    env_steps_total = history[-1]["env_steps_total"] if history else 0
    runners, timers = result["env_runners"], result.get("timers", {})
    steps = int(runners.get("num_env_steps_sampled", 0))
    seconds = float(result["time_this_iter_s"])
    sampling_s = timers.get("env_runner_sampling_timer")
    return_mean = runners.get("episode_return_mean")
    return {
        "iteration": len(history) + 1,
        "env_steps": steps,
        "env_steps_total": env_steps_total + steps,
        "episode_return_mean": None if return_mean is None or math.isnan(return_mean) else float(return_mean),
        "time_s": round(seconds, 4),
        "env_steps_per_s": round(steps / seconds, 2) if seconds > 0 else None,
        "sampling_s": None if sampling_s is None else round(float(sampling_s), 4),
        "learner_update_s": _rounded(timers.get("learner_update_timer")),
    }


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _budget_left(config: RLlibConfig, history: list[dict[str, Any]]) -> bool:
    if config.iterations is not None:
        return len(history) < config.iterations
    return (history[-1]["env_steps_total"] if history else 0) < config.timesteps


def _identity(config: RLlibConfig) -> dict[str, Any]:
    return {key: list(v) if isinstance(v := getattr(config, key), tuple) else v for key in RESUME_KEYS}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps(doc, indent=2) + "\n")


def resume_history(config: RLlibConfig, out: Path) -> list[dict[str, Any]]:
    """The iterations already trained in ``out`` (none for a new folder); refuses other settings or damage.

    Cheap and Ray-free, so the CLI calls it before starting Ray.
    """
    report_path, checkpoint = out / REPORT_NAME, out / CHECKPOINT_DIR
    if not checkpoint.exists():
        return []
    if not report_path.exists():
        raise CheckpointError(f"{checkpoint} has no {REPORT_NAME} beside it; use a new --out")
    try:
        previous = json.loads(report_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{report_path}: not readable JSON ({exc}); use a new --out") from exc
    if previous.get("identity") != _identity(config):
        raise ConfigError(f"{out} holds a run with other settings ({previous.get('identity')}); use a new --out")
    return previous["iterations"]


def train_rllib(config: RLlibConfig, out: Path, command: str, show_progress: bool = True) -> dict[str, Any]:
    """Train (or resume from ``out/checkpoint``), evaluate against ``random``, write ``out/rllib.json`` + PNG."""
    config.validate()
    history = resume_history(config, out)
    out.mkdir(parents=True, exist_ok=True)
    report_path, checkpoint = out / REPORT_NAME, out / CHECKPOINT_DIR

    algo = build_algorithm(config)
    try:
        if checkpoint.exists():
            try:
                trained = restore_learner_state(algo, checkpoint)
            except CheckpointError:
                raise
            except Exception as exc:  # RLlib raises many types for state that does not fit the module
                raise CheckpointError(f"{checkpoint}: RLlib cannot restore it ({exc}); use a new --out") from exc
            history = history[:trained]  # the json may be one iteration ahead of a killed save
        total = config.iterations if config.iterations is not None else config.timesteps
        quiet = {} if show_progress else {"disable": True}
        unit = "it" if config.iterations is not None else "step"
        done = len(history) if config.iterations is not None else (history[-1]["env_steps_total"] if history else 0)
        started = time.perf_counter()
        with progress_bar(total=total, initial=done, desc="rllib ppo", unit=unit, **quiet) as bar:
            while _budget_left(config, history):
                record = _iteration_record(algo.train(), history)
                history.append(record)
                save_learner_state(algo, checkpoint, len(history))
                _write_json(report_path, _report(config, history, None, command, out))
                bar.update(1 if config.iterations is not None else record["env_steps"])
                ret = record["episode_return_mean"]
                bar.set_postfix_str(
                    f"return {'n/a' if ret is None else f'{ret:.1f}'}, {record['env_steps_per_s']} env steps/s"
                )
        train_wall_s = time.perf_counter() - started
        eval_seed = 10_000 + config.seed
        evaluation = {
            "episodes": config.eval_episodes,
            "seed": eval_seed,
            "ppo_greedy": evaluate_policy(
                greedy_policy(algo), config.red_agent, config.workflow, config.eval_episodes, eval_seed
            ),
            "random": evaluate_policy(
                make_baseline("random", eval_seed), config.red_agent, config.workflow, config.eval_episodes, eval_seed
            ),
        }
    finally:
        algo.stop()
    evaluation["beats_random"] = evaluation["ppo_greedy"]["return_mean"] > evaluation["random"]["return_mean"]
    doc = _report(config, history, evaluation, command, out, train_wall_s)
    _write_json(report_path, doc)
    _plot_curve(history, evaluation, out / "rllib_curve.png", config)
    return doc


def _report(
    config: RLlibConfig,
    history: list[dict[str, Any]],
    evaluation: dict[str, Any] | None,
    command: str,
    out: Path,
    wall_s: float | None = None,
) -> dict[str, Any]:
    steps = sum(r["env_steps"] for r in history)
    seconds = sum(r["time_s"] for r in history)
    return {
        "command": command,
        "api_stack": "new (RLModule, Learner, EnvRunner; RLlib's default)",
        "config": {**asdict(config), "workflow": workflow_name(config.workflow)},
        "identity": _identity(config),
        "env_steps": steps,
        "train_time_s": round(seconds, 3),
        "env_steps_per_s": round(steps / seconds, 2) if seconds > 0 else None,
        "wall_s_this_run": None if wall_s is None else round(wall_s, 3),
        "iterations": history,
        "eval": evaluation,
        "checkpoint": str(out / CHECKPOINT_DIR),
        "returns_note": "iteration returns include the alignment reward; eval returns are env returns only",
    }


def _plot_curve(history: list[dict[str, Any]], evaluation: dict[str, Any], path: Path, config: RLlibConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["env_steps_total"], r["episode_return_mean"]) for r in history if r["episode_return_mean"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    if points:
        label = "training: sampled actions, env + alignment,\nmean of the last 100 episodes (RLlib)"
        ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.axhline(evaluation["ppo_greedy"]["return_mean"], color="tab:green", ls="--", label="PPO greedy, eval")
    ax.axhline(evaluation["random"]["return_mean"], color="tab:red", ls=":", label="random, same eval episodes")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"mean episode return vs {config.red_agent}")
    ax.set_title(f"RLlib PPO, {config.env_runners} env runner(s) x {config.envs_per_runner} envs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def check_scaling_arguments(config: RLlibConfig, runner_counts: list[int], repeats: int) -> None:
    if any(count < 0 for count in runner_counts) or len(set(runner_counts)) != len(runner_counts):
        raise ConfigError("--env-runners takes distinct counts >= 0")
    if repeats < 1 or (config.iterations or 0) < 2:
        raise ConfigError("--repeats must be >= 1 and --iterations >= 2 (the first iteration is warm-up)")


def measure_scaling(
    config: RLlibConfig, runner_counts: list[int], repeats: int, out: Path, command: str
) -> dict[str, Any]:
    """Env steps/s of RLlib PPO with each env-runner count, interleaved (1, 2, 1, 2, ...), same seed.

    The first iteration of each run (actor start-up, first weight sync) is left out of the rate.
    """
    check_scaling_arguments(config, runner_counts, repeats)

    def run_with(count: int):
        def run(seed: int) -> RunResult:
            algo = build_algorithm(RLlibConfig(**{**asdict(config), "env_runners": count, "seed": seed}))
            try:
                history: list[dict[str, Any]] = []
                for _ in range(config.iterations):
                    history.append(_iteration_record(algo.train(), history))
            finally:
                algo.stop()
            timed = history[1:]
            steps = sum(r["env_steps"] for r in timed)
            seconds = sum(r["time_s"] for r in timed)
            sampling = [r["sampling_s"] for r in timed if r["sampling_s"] is not None]
            return RunResult(
                seed=seed,
                wall_s=seconds,
                work={"env_steps": steps},
                extra={
                    "env_steps_per_s": steps / seconds,
                    "sampling_env_steps_per_s": steps / sum(sampling) if sampling else None,
                    "iterations": history,
                },
            )

        return run

    modes = {f"env_runners={count}": run_with(count) for count in runner_counts}
    results, _ = run_interleaved(modes, [config.seed] * repeats, desc="rllib scaling")
    rows = []
    for count, (name, runs) in zip(runner_counts, results.items(), strict=True):
        rates = [r.extra["env_steps_per_s"] for r in runs]
        sampling = [r.extra["sampling_env_steps_per_s"] for r in runs if r.extra["sampling_env_steps_per_s"]]
        rows.append(
            {
                "mode": name,
                "env_runners": count,
                "median_env_steps_per_s": round(statistics.median(rates), 2),
                "median_sampling_env_steps_per_s": round(statistics.median(sampling), 2) if sampling else None,
                "runs": [{"env_steps_per_s": round(rate, 2)} for rate in rates],
                "iterations": [r.extra["iterations"] for r in runs],
            }
        )
    base = rows[0]["median_env_steps_per_s"]
    summary = ", ".join(
        f"{row['env_runners']} runner(s): {row['median_env_steps_per_s']:.0f} env steps/s "
        f"({row['median_env_steps_per_s'] / base:.2f}x)"
        for row in rows
    )
    doc = {
        "command": command,
        "config": {**asdict(config), "workflow": workflow_name(config.workflow)},
        "repeats": repeats,
        "rate_note": "env steps sampled / training-iteration time (sampling + learner update), iteration 1 left out",
        "rows": rows,
        "summary": f"RLlib PPO, {config.envs_per_runner} envs per runner, median of {repeats}: {summary}",
        "ray_cluster_cpus": _cluster_cpus(),
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "rllib_scaling.json", doc)
    return doc


def _cluster_cpus() -> float | None:
    import ray

    return ray.cluster_resources().get("CPU") if ray.is_initialized() else None
