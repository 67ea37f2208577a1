"""``python -m workflow_rl train|bench|baselines|measure-overlap|rllib|rllib-scaling``, on trainkit's CLI convention.

The ``train`` flags are generated from :class:`workflow_rl.config.TrainConfig`; ``--trainer`` picks the
original or the fast trainer. The seed's scripts (``parallel-train-workflow-rl[-fast]``) call
:func:`train_main` with the trainer fixed. The Ray commands import Ray only when they run.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from trainkit import ConfigError, atomic_write
from trainkit import validate as v
from trainkit.cli import (
    Command,
    TrainkitArgumentParser,
    add_config_arguments,
    build_parser,
    config_from_args,
    run_cli,
    set_handler,
)
from trainkit.harness import current_command
from workflow_rl.baselines import BASELINES, evaluate_policy, make_baseline
from workflow_rl.config import FAST, INTERNAL_FIELDS, ORIGINAL, TRAINERS, TrainConfig, with_trainer
from workflow_rl.distributed import ray_session, require_ray
from workflow_rl.logs import default_log_dir
from workflow_rl.sim import RED_AGENTS
from workflow_rl.trainer import train
from workflow_rl.workflows import ALL_WORKFLOWS, parse_workflow, workflow_name

__all__ = ["main", "make_parser", "train_main"]

DEFAULT_SCALING_OUT = Path("reports/distributed/workflow_rl")
RAY_ADDRESS_HELP = (
    "Ray cluster to join: 'auto' (the cluster `ray start` runs on this node; an error if none) or host:port; "
    "default: Ray's rule ($RAY_ADDRESS, else a cluster `ray start` runs on this node, else a local Ray for this run)"
)
DEFAULT_WORKFLOW = workflow_name(ALL_WORKFLOWS[0])


def _workflow(text: str) -> tuple[int, ...]:
    try:
        return parse_workflow(text)
    except Exception as error:  # parse_workflow raises ConfigError; argparse wants a one-line type error
        raise v.ValidationError(str(error)) from None


def add_train_arguments(parser: argparse.ArgumentParser, trainer: str | None) -> None:
    if trainer is None:
        parser.add_argument(
            "--trainer",
            choices=tuple(TRAINERS),
            default="fast",
            help="fast: the batched VectorEnv in one process; original: one process per env + shared memory",
        )
    else:
        parser.set_defaults(trainer=trainer)
    add_config_arguments(
        parser,
        TrainConfig,
        aliases={"torch_threads": ["--threads"]},
        exclude=(*INTERNAL_FIELDS, "update_steps", "workflow"),
    )
    parser.add_argument(
        "--update-steps",
        type=v.positive_int,
        default=None,
        help=f"env steps per PPO update (default: fast {FAST['update_steps']}, original {ORIGINAL['update_steps']})",
    )
    parser.add_argument(
        "--workflow",
        type=_workflow,
        default=None,
        help="train one workflow, e.g. op_server,enterprise,defender,op_host,user (default: GP-UCB search)",
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="run each workflow's training here (local) or as a Ray Tune trial (ray; fast trainer only)",
    )
    parser.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP + " (--backend ray)")
    parser.add_argument(
        "--tune-storage",
        default=None,
        help="where Ray Tune keeps trial results (--backend ray): on a multi-node cluster a folder every node "
        "shares or a cloud URI; default a temporary folder on this machine",
    )


def _run_train(args: argparse.Namespace) -> int:
    config = with_trainer(config_from_args(TrainConfig, args), args.trainer)
    if args.update_steps is not None:
        config = replace(config, update_steps=args.update_steps)
    if args.backend == "ray":
        if config.engine != "batched":
            raise v.ValidationError("--backend ray runs the fast trainer only (the original forks its env workers)")
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
        "trainer": args.trainer,
        "episodes": result.episodes,
        "updates": result.updates,
        "wall_s": round(result.wall_s, 3),
        "compile_s": round(result.compile_s, 3),
        "episodes_per_s": round(result.episodes_per_s, 2) if math.isfinite(result.episodes_per_s) else None,
        "eval_return": round(result.eval_return, 2),
        "eval_compliance": None if math.isnan(result.eval_compliance) else round(result.eval_compliance, 3),
        "workflows": result.workflows,
        "time_split_s": {k: round(val, 3) for k, val in result.time_split.items()},
        "cpu_split_s": {k: round(val, 3) for k, val in result.cpu_split.items()},
    }
    with atomic_write(result.out / "summary.json", "w") as handle:
        handle.write(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _add_baselines_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--red-agent", choices=RED_AGENTS, default="bline", help="scripted attacker")
    parser.add_argument("--workflow", type=_workflow, default=parse_workflow(DEFAULT_WORKFLOW), help="priority order")
    parser.add_argument("--episodes", type=v.positive_int, default=500, help="seeded episodes per baseline")
    parser.add_argument("--seed", type=v.seed, default=0, help="random seed, in [0, 2**32)")


def _run_baselines(args: argparse.Namespace) -> int:
    workflow = args.workflow
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
    parser.add_argument("--envs-per-runner", type=v.positive_int, default=4, help="envs each env runner steps")
    parser.add_argument("--train-batch", type=v.positive_int, default=2000, help="env steps per PPO iteration")
    parser.add_argument("--lr", type=v.learning_rate, default=1e-3, help="learning rate")
    parser.add_argument("--seed", type=v.seed, default=0, help="random seed, in [0, 2**32)")
    parser.add_argument("--red-agent", choices=RED_AGENTS, default="bline", help="scripted attacker")
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW, help="priority order the env encodes")
    parser.add_argument("--eval-episodes", type=v.positive_int, default=200, help="seeded evaluation episodes")
    parser.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP)


def _add_rllib(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-runners", type=v.positive_int, default=1, help="RLlib env runners (Ray actors)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=v.positive_int, default=6, help="total training iterations")
    budget.add_argument("--timesteps", type=v.positive_int, default=None, help="or: total env steps")
    parser.add_argument("--out", type=v.output_dir, default=None, help="output folder (default logs/exp_<time>_rllib/)")
    _add_rllib_arguments(parser)


def _add_rllib_scaling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-runners", type=v.positive_int, nargs="+", default=[1, 2], help="counts to compare")
    parser.add_argument("--iterations", type=v.positive_int, default=4, help="iterations per run; the first warms up")
    parser.add_argument("--repeats", type=v.positive_int, default=3, help="interleaved runs per count")
    parser.add_argument(
        "--out", type=v.output_dir, default=str(DEFAULT_SCALING_OUT), help="writes DIR/rllib_scaling.json"
    )
    parser.set_defaults(timesteps=None)
    _add_rllib_arguments(parser)


def _add_overlap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-envs", type=v.positive_int, default=32, help="parallel environments")
    parser.add_argument("--episodes", type=v.positive_int, default=640, help="episodes per run (a multiple of N)")
    parser.add_argument("--seeds", type=v.positive_int, default=3, help="seeds per arm, arm order alternating")
    parser.add_argument("--eval-episodes", type=v.positive_int, default=200, help="seeded evaluation episodes")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")


def _run_overlap(args: argparse.Namespace) -> int:
    from workflow_rl.overlap import measure_overlap

    if args.episodes % args.n_envs:
        raise ConfigError(f"--episodes {args.episodes} must be a multiple of --n-envs {args.n_envs}")
    v.output_dir(args.out.parent)  # fails in a second, before any work, when the folder is not writable
    command = current_command("workflow_rl")
    doc = measure_overlap(args.n_envs, args.episodes, args.seeds, args.eval_episodes, command)
    with atomic_write(args.out) as handle:
        json.dump(doc, handle, indent=2)
    print(doc["summary"])
    print(f"wrote {args.out}")
    return 0


def _add_bench(parser: argparse.ArgumentParser) -> None:
    from workflow_rl.bench import add_arguments

    add_arguments(parser)


def _run_bench(args: argparse.Namespace) -> int:
    from workflow_rl.bench import run

    return run(args)


COMMANDS = (
    Command(
        "train",
        "train a defender (original or fast trainer); resumes in --out",
        lambda parser: add_train_arguments(parser, None),
        _run_train,
    ),
    Command("bench", "original vs fast benchmark (contract v2); writes benchmark.json + plots", _add_bench, _run_bench),
    Command("baselines", "score the scripted baselines", _add_baselines_arguments, _run_baselines),
    Command(
        "rllib",
        "RLlib PPO on the defence simulator, then PPO vs random on the same seeded episodes (needs Ray); "
        "checkpointed into DIR/checkpoint after every iteration, rerun with the same --out to resume",
        _add_rllib,
        _run_rllib,
    ),
    Command(
        "measure-overlap",
        "serial fast loop vs rollouts and updates overlapped in two processes (policy lag 1): wall, CPU, return",
        _add_overlap,
        _run_overlap,
    ),
    Command(
        "rllib-scaling",
        "env steps/s of RLlib PPO with each env-runner count, interleaved, same seed (needs Ray)",
        _add_rllib_scaling,
        _run_rllib_scaling,
    ),
)


def make_parser() -> TrainkitArgumentParser:
    return build_parser("workflow_rl", "Workflow-conditioned PPO on a batched network-defence simulator.", COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(make_parser(), argv)


def train_main(trainer: str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """The seed scripts' entry: the train flags with the trainer fixed."""
    parser = TrainkitArgumentParser(
        prog=prog or f"parallel-train-workflow-rl{'-fast' if trainer == 'fast' else ''}",
        description=f"Train the workflow-conditioned defender ({trainer} trainer).",
    )
    add_train_arguments(parser, trainer)
    set_handler(parser, _run_train)
    return run_cli(parser, argv)
