"""``python -m workflow_rl train|bench|baselines|rllib|rllib-scaling``; the seed's scripts call :func:`train_main`.

The Ray paths (``rllib``, ``rllib-scaling``, ``train --backend ray``) import Ray only when they run.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from trainkit import ConfigError
from trainkit.benchmark import add_bench_arguments, current_command
from workflow_rl.baselines import BASELINES, evaluate_policy, make_baseline
from workflow_rl.distributed import ray_session, require_ray
from workflow_rl.logs import default_log_dir
from workflow_rl.sim import RED_AGENTS
from workflow_rl.trainer import FAST, ORIGINAL, TrainConfig, train, with_path
from workflow_rl.workflows import ALL_WORKFLOWS, DEFAULT_ALIGNMENT_LAMBDA, parse_workflow, workflow_name

__all__ = ["build_parser", "main", "train_main"]

DEFAULT_BENCH_OUT = Path("reports/bench/workflow_rl")
DEFAULT_SCALING_OUT = Path("reports/distributed/workflow_rl")
RAY_ADDRESS_HELP = (
    "Ray cluster to join: 'auto' (the cluster `ray start` runs on this node; an error if none) or host:port; "
    "default: Ray's rule ($RAY_ADDRESS, else a cluster `ray start` runs on this node, else a local Ray for this run)"
)


def add_train_arguments(parser: argparse.ArgumentParser, path: str | None) -> None:
    if path is None:
        parser.add_argument(
            "--path",
            choices=("fast", "original"),
            default="fast",
            help="fast: one batched process; original: one process per env + shared memory",
        )
    parser.add_argument("--n-envs", type=int, default=200, help="parallel environments (default 200)")
    parser.add_argument("--total-episodes", type=int, default=100_000, help="episode budget of the whole run")
    parser.add_argument("--max-episodes", type=int, default=50, help="episode cap per workflow")
    parser.add_argument(
        "--update-steps",
        type=int,
        default=None,
        help=f"env steps per PPO update (default: fast {FAST['update_steps']}, original {ORIGINAL['update_steps']})",
    )
    parser.add_argument("--red-agent", choices=RED_AGENTS, default="bline", help="scripted attacker")
    parser.add_argument(
        "--workflow",
        default=None,
        help="train one workflow, e.g. op_server,enterprise,defender,op_host,user (default: GP-UCB search)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    parser.add_argument(
        "--out", type=Path, default=None, help="log folder (default logs/exp_<timestamp>_fast/); rerun to resume"
    )
    parser.add_argument("--alignment-lambda", type=float, default=DEFAULT_ALIGNMENT_LAMBDA, help="alignment weight")
    parser.add_argument("--compliance-threshold", type=float, default=0.95, help="stop a workflow at this compliance")
    parser.add_argument("--patience", type=int, default=0, help="stop a workflow after this many checks w/o gain")
    parser.add_argument("--min-episodes", type=int, default=0, help="episodes per workflow before early stopping")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--mixed-precision", action="store_true", help="bfloat16 autocast in updates (CUDA only)")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the PPO loss (compile time reported apart)"
    )
    parser.add_argument(
        "--checkpoint-every-s", type=float, default=30.0, help="seconds between checkpoints (episode boundaries)"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="run each workflow's training here (local) or as a Ray Tune trial (ray; fast path only)",
    )
    parser.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP + " (--backend ray)")
    parser.add_argument(
        "--tune-storage",
        default=None,
        help="where Ray Tune keeps trial results (--backend ray): on a multi-node cluster a folder every node "
        "shares or a cloud URI; default a temporary folder on this machine",
    )
    if path is not None:
        parser.set_defaults(path=path)


def _run_train(args: argparse.Namespace) -> int:
    config = with_path(
        TrainConfig(
            n_envs=args.n_envs,
            total_episodes=args.total_episodes,
            max_episodes=args.max_episodes,
            red_agent=args.red_agent,
            workflow=parse_workflow(args.workflow) if args.workflow else None,
            seed=args.seed,
            device=args.device,
            out=args.out,
            alignment_lambda=args.alignment_lambda,
            compliance_threshold=args.compliance_threshold,
            patience=args.patience,
            min_episodes=args.min_episodes,
            lr=args.lr,
            mixed_precision=args.mixed_precision,
            torch_threads=args.torch_threads,
            checkpoint_every_s=args.checkpoint_every_s,
            compile=args.compile,
        ),
        args.path,
    )
    if args.update_steps is not None:
        config = replace(config, update_steps=args.update_steps)
    if args.backend == "ray":
        if config.engine != "batched":
            raise ConfigError("--backend ray runs the fast path only (the original path forks its own env workers)")
        with ray_session(args.ray_address):
            from workflow_rl.tune_backend import RayTuneBackend

            storage = args.tune_storage
            if storage is not None and "://" not in storage:
                storage = str(Path(storage).resolve())
            result = train(config, backend=RayTuneBackend(storage_path=storage))
    else:
        result = train(config)
    summary = {
        "out": str(result.out),
        "path": args.path,
        "episodes": result.episodes,
        "updates": result.updates,
        "wall_s": round(result.wall_s, 3),
        "compile_s": round(result.compile_s, 3),
        "episodes_per_s": round(result.episodes_per_s, 2) if math.isfinite(result.episodes_per_s) else None,
        "eval_return": round(result.eval_return, 2),
        "eval_compliance": None if math.isnan(result.eval_compliance) else round(result.eval_compliance, 3),
        "workflows": result.workflows,
        "time_split_s": {k: round(v, 3) for k, v in result.time_split.items()},
    }
    (result.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from workflow_rl.bench import run_bench

    if args.seeds is not None and args.seeds < 1:
        raise ConfigError("--seeds must be >= 1")
    path = run_bench(args.preset, args.seeds, args.out or DEFAULT_BENCH_OUT, args.device)
    print(f"wrote {path}")
    return 0


def _run_baselines(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    workflow = parse_workflow(args.workflow)
    print(f"red={args.red_agent} workflow={workflow_name(workflow)} episodes={args.episodes} seed={args.seed}")
    print(f"{'policy':<16} {'return':>9} {'std':>7} {'compliance':>10}")
    for name in BASELINES:
        score = evaluate_policy(make_baseline(name, args.seed), args.red_agent, workflow, args.episodes, args.seed)
        print(f"{name:<16} {score['return_mean']:>9.1f} {score['return_std']:>7.1f} {score['compliance']:>10.3f}")
    return 0


def _rllib_config(args: argparse.Namespace, env_runners: int):
    """The validated RLlib settings, before any Ray process starts (imports Ray, or fails in one line)."""
    require_ray()
    from workflow_rl.rllib_train import RLlibConfig

    config = RLlibConfig(
        env_runners=env_runners,
        envs_per_runner=args.envs_per_runner,
        iterations=args.iterations if args.timesteps is None else None,
        timesteps=args.timesteps,
        seed=args.seed,
        red_agent=args.red_agent,
        workflow=parse_workflow(args.workflow),
        train_batch=args.train_batch,
        lr=args.lr,
        eval_episodes=args.eval_episodes,
    )
    config.validate()
    return config


def _run_rllib(args: argparse.Namespace) -> int:
    config = _rllib_config(args, args.env_runners)
    from workflow_rl.rllib_train import resume_history, train_rllib

    out = args.out or default_log_dir("rllib")
    resume_history(config, out)  # refuse a damaged or different run in --out before Ray starts
    with ray_session(args.ray_address):
        doc = train_rllib(config, out, current_command("workflow_rl"))
    evaluation = doc["eval"]
    print(
        f"{doc['env_steps']} env steps in {doc['train_time_s']:.1f} s ({doc['env_steps_per_s']} env steps/s); "
        f"eval on {evaluation['episodes']} seeded episodes vs {args.red_agent}: "
        f"PPO {evaluation['ppo_greedy']['return_mean']:.1f}, random {evaluation['random']['return_mean']:.1f}"
    )
    print(f"wrote {out / 'rllib.json'}")
    return 0


def _run_rllib_scaling(args: argparse.Namespace) -> int:
    config = _rllib_config(args, args.env_runners[0])
    from workflow_rl.rllib_train import check_scaling_arguments, measure_scaling

    check_scaling_arguments(config, args.env_runners, args.repeats)
    with ray_session(args.ray_address):
        doc = measure_scaling(config, args.env_runners, args.repeats, args.out, current_command("workflow_rl"))
    print(doc["summary"])
    print(f"wrote {args.out / 'rllib_scaling.json'}")
    return 0


def _add_rllib_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--envs-per-runner", type=int, default=4, help="envs each env runner steps (default 4)")
    parser.add_argument("--train-batch", type=int, default=2000, help="env steps per PPO iteration (default 2000)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--red-agent", choices=RED_AGENTS, default="bline", help="scripted attacker")
    parser.add_argument("--workflow", default=workflow_name(ALL_WORKFLOWS[0]), help="priority order the env encodes")
    parser.add_argument("--eval-episodes", type=int, default=200, help="seeded evaluation episodes (default 200)")
    parser.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workflow_rl", description="Workflow-conditioned PPO on a batched network-defence simulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train a defender (fast or original path); resumes in --out")
    add_train_arguments(train_parser, None)
    train_parser.set_defaults(handler=_run_train)
    bench_parser = commands.add_parser("bench", help="original vs fast benchmark; writes benchmark.json + plots")
    add_bench_arguments(bench_parser)
    bench_parser.set_defaults(handler=_run_bench)
    baselines_parser = commands.add_parser("baselines", help="score the scripted baselines")
    baselines_parser.add_argument("--red-agent", choices=RED_AGENTS, default="bline")
    baselines_parser.add_argument("--workflow", default="op_server,enterprise,defender,op_host,user")
    baselines_parser.add_argument("--episodes", type=int, default=500)
    baselines_parser.add_argument("--seed", type=int, default=0)
    baselines_parser.set_defaults(handler=_run_baselines)

    rllib_parser = commands.add_parser(
        "rllib",
        help="RLlib PPO on the defence simulator, then PPO vs random on the same seeded episodes (needs Ray)",
        description="Train RLlib's PPO on the single-env simulator with K env runners, evaluate it and the random "
        "baseline on the same seeded episodes, write DIR/rllib.json and DIR/rllib_curve.png. The algorithm is "
        "checkpointed into DIR/checkpoint after every iteration (RLlib's save_to_path); rerunning the same "
        "command with the same --out resumes from it and trains up to the same total budget.",
    )
    rllib_parser.add_argument("--env-runners", type=int, default=1, help="RLlib env runners (Ray actors; default 1)")
    budget = rllib_parser.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, default=6, help="total training iterations (default 6)")
    budget.add_argument("--timesteps", type=int, default=None, help="or: total env steps")
    rllib_parser.add_argument("--out", type=Path, default=None, help="output folder (default logs/exp_<time>_rllib/)")
    _add_rllib_arguments(rllib_parser)
    rllib_parser.set_defaults(handler=_run_rllib)

    scaling_parser = commands.add_parser(
        "rllib-scaling",
        help="env steps/s of RLlib PPO with each env-runner count, interleaved, same seed (needs Ray)",
    )
    scaling_parser.add_argument("--env-runners", type=int, nargs="+", default=[1, 2], help="counts to compare")
    scaling_parser.add_argument("--iterations", type=int, default=4, help="iterations per run; the first is warm-up")
    scaling_parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per count (default 3)")
    scaling_parser.add_argument("--out", type=Path, default=DEFAULT_SCALING_OUT, help="writes DIR/rllib_scaling.json")
    scaling_parser.set_defaults(timesteps=None)
    _add_rllib_arguments(scaling_parser)
    scaling_parser.set_defaults(handler=_run_rllib_scaling)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def train_main(path: str, argv: Sequence[str] | None = None) -> int:
    """The seed scripts' entry: the train flags with ``path`` fixed."""
    parser = argparse.ArgumentParser(description=f"Train the workflow-conditioned defender ({path} path).")
    add_train_arguments(parser, path)
    return _run_train(parser.parse_args(argv))
