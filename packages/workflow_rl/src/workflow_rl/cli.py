"""``python -m workflow_rl train|bench|baselines``; the seed's script names call :func:`train_main`."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from trainkit import ConfigError
from trainkit.benchmark import add_bench_arguments
from workflow_rl.baselines import BASELINES, evaluate_policy, make_baseline
from workflow_rl.sim import RED_AGENTS
from workflow_rl.trainer import FAST, ORIGINAL, TrainConfig, train, with_path
from workflow_rl.workflows import DEFAULT_ALIGNMENT_LAMBDA, parse_workflow, workflow_name

__all__ = ["build_parser", "main", "train_main"]

DEFAULT_BENCH_OUT = Path("reports/bench/workflow_rl")


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
        "--checkpoint-every-s", type=float, default=30.0, help="seconds between checkpoints (episode boundaries)"
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
        ),
        args.path,
    )
    if args.update_steps is not None:
        config = replace(config, update_steps=args.update_steps)
    result = train(config)
    summary = {
        "out": str(result.out),
        "path": args.path,
        "episodes": result.episodes,
        "updates": result.updates,
        "wall_s": round(result.wall_s, 3),
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def train_main(path: str, argv: Sequence[str] | None = None) -> int:
    """The seed scripts' entry: the train flags with ``path`` fixed."""
    parser = argparse.ArgumentParser(description=f"Train the workflow-conditioned defender ({path} path).")
    add_train_arguments(parser, path)
    return _run_train(parser.parse_args(argv))
