"""The search over workflows that both trainers share: it picks each workflow (``--workflow`` or GP-UCB),
starts it from the nearest trained policy, runs the training loop (:mod:`workflow_rl.loop`) on it through a
backend, checkpoints, and evaluates the result. The trainer choice is a config difference
(:func:`workflow_rl.config.with_trainer`): ``original`` = one process per env behind a shared-memory pipe
barrier, an update every 100 steps, a CSV row flushed per episode; ``fast`` = the batched ``VectorEnv``,
an update every 50 steps (GAE bootstraps V at the cut), fused update, CSV rows in batches of 100.
"""

from __future__ import annotations

import copy
import functools
import logging
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainkit import (
    CheckpointError,
    ConfigError,
    EarlyStopping,
    load_checkpoint,
    progress_bar,
    require,
    resolve_device,
    save_checkpoint,
    seed_everything,
)
from trainkit.run_folder import claim_run_folder
from workflow_rl.agents import ActorCritic, FusedActorCritic, make_agent
from workflow_rl.config import TrainConfig, TrainResult
from workflow_rl.logs import default_log_dir, log_evaluation, open_episode_log, trim_episode_log
from workflow_rl.loop import WorkflowRun, evaluate_agent, make_engine, train_workflow
from workflow_rl.ppo import STAT_NAMES, make_optimizer, ppo_loss
from workflow_rl.search import GPUCBSearch, LocalBackend, SearchBackend, WorkflowResult
from workflow_rl.sim import EPISODE_STEPS, N_ACTIONS, OBS_DIM
from workflow_rl.timing import CpuStopwatch
from workflow_rl.trial import IsolatedTrial, TrialState, new_stopper
from workflow_rl.workflows import workflow_name

__all__ = ["CHECKPOINT_NAME", "train"]

CHECKPOINT_NAME = "checkpoint.pt"
PACKAGE, CHECKPOINT_KIND = "workflow_rl", "train_state"
# Settings that must match for a run to resume from a checkpoint in the same folder.
RESUME_KEYS = ("engine", "n_envs", "update_steps", "red_agent", "workflow", "seed", "alignment_lambda", "lr")


@dataclass
class _RunState:
    """Everything the checkpoint holds besides the model and optimizer."""

    progress: dict[str, Any] = field(
        default_factory=lambda: {
            "episodes": 0,
            "updates": 0,
            "workflow": None,
            "workflow_episodes": 0,
            "ppo": dict.fromkeys(STAT_NAMES, ""),  # the latest update's statistics, logged with each episode
        }
    )
    stopper: dict[str, Any] | None = None
    trained: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)
    env_rng: dict[str, Any] | None = None


def _load(path: Path, identity: dict, device: torch.device, agent, optimizer, generator, search) -> _RunState:
    state = load_checkpoint(path, map_location=device, package=PACKAGE, kind=CHECKPOINT_KIND)
    read = functools.partial(require, state, source=path)
    if read("identity", dict) != identity:
        raise ConfigError(f"{path.parent} holds a run with other settings ({state['identity']}); use a new --out")
    try:
        agent.load_state_dict(read("agent", dict))
        optimizer.load_state_dict(read("optimizer", dict))
    except (RuntimeError, ValueError, KeyError) as error:  # e.g. another network layout's weights
        reason = " ".join(line.strip() for line in str(error).splitlines())[:200]
        raise CheckpointError(f"{path}: its model or optimizer does not fit this trainer ({reason})") from None
    generator.set_state(read("generator", torch.Tensor))
    search.load_state_dict(read("search", dict))
    torch.set_rng_state(read("torch_rng", torch.Tensor))
    return _RunState(
        progress=dict(read("progress", dict)),
        stopper=read("stopper", (dict, type(None))),
        trained=read("trained", dict),
        curve=[tuple(point) for point in read("curve", list)],
        env_rng=read("env_rng", (dict, type(None))),
    )


def train(config: TrainConfig, backend: SearchBackend | None = None, show_progress: bool = True) -> TrainResult:
    """Train (or resume) per ``config``; every rerun of the same command continues the same run."""
    config.validate()
    started = time.perf_counter()
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    out = (
        Path(config.out)
        if config.out is not None
        else default_log_dir("fast" if config.engine == "batched" else "original")
    )
    out.mkdir(parents=True, exist_ok=True)
    claim_run_folder(out)
    backend = backend or LocalBackend()
    if backend.isolated and config.engine != "batched":
        raise ConfigError("a backend that runs trials in other processes needs the fast trainer (batched engine)")
    agent = make_agent(OBS_DIM, N_ACTIONS, config.fused_forward).to(device)
    optimizer = make_optimizer(agent, config.lr, config.fused_adam)
    generator = torch.Generator().manual_seed(config.seed)
    search = GPUCBSearch(seed=config.seed)
    identity = {key: list(value) if isinstance(value := getattr(config, key), tuple) else value for key in RESUME_KEYS}
    checkpoint_path = out / CHECKPOINT_NAME
    run_state = _RunState()
    if checkpoint_path.exists():
        run_state = _load(checkpoint_path, identity, device, agent, optimizer, generator, search)
    resumed_from = run_state.progress["episodes"]
    trim_episode_log(out / "episodes.csv", resumed_from)

    first = run_state.progress["workflow"] or config.workflow or search.propose() or (0, 1, 2, 3, 4)
    engine = make_engine(config, tuple(first), int(np.random.SeedSequence([config.seed, 0]).generate_state(1)[0]))
    if resumed_from and run_state.env_rng is not None:
        # Resume the simulator's streams (the batched one, or every env worker's) at their latest reset.
        _restore_env_rng(engine, run_state.env_rng, checkpoint_path)
    loss_fn, compile_s = _loss_function(config, agent, device)
    logger = open_episode_log(out / "episodes.csv", config.csv_batch_size, config.tensorboard, config.lr, resumed_from)
    stopwatch = CpuStopwatch()
    loop_started = time.perf_counter()
    bar = progress_bar(
        total=config.total_episodes, initial=resumed_from, desc="episodes", unit="ep", disable=not show_progress
    )

    def log_episodes(rows: list[dict[str, Any]], mean_return: float) -> None:
        wall_s = round(time.perf_counter() - loop_started, 4)
        for row in rows:
            logger.log({**row, "wall_s": wall_s})
        run_state.curve.append((rows[-1]["episode"] + 1, mean_return))
        bar.update(len(rows))

    def save(stopper: EarlyStopping | None) -> None:
        logger.flush()  # the log never trails the checkpoint
        state = _checkpoint_state(identity, agent, optimizer, generator, search, run_state, stopper, engine)
        save_checkpoint(checkpoint_path, state, package=PACKAGE, kind=CHECKPOINT_KIND)

    def make_run(stopper: EarlyStopping) -> WorkflowRun:
        last_save = [time.perf_counter()]

        def checkpoint_if_due() -> None:
            if time.perf_counter() - last_save[0] >= config.checkpoint_every_s:
                save(stopper)
                last_save[0] = time.perf_counter()

        return WorkflowRun(
            config, agent, optimizer, generator, engine, device, run_state.progress, stopper, stopwatch,
            log_episodes=log_episodes, at_episode_boundary=checkpoint_if_due, loss_fn=loss_fn,
        )  # fmt: skip

    previous_sigterm = _exit_on_sigterm()
    try:
        _search(config, search, backend, run_state, agent, engine, make_run, save, stopwatch, log_episodes)
    finally:
        bar.close()
        logger.close()
        engine.close()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    timing = {"wall_s": time.perf_counter() - started, "loop_s": time.perf_counter() - loop_started}
    return _finish(config, search, run_state, agent, device, stopwatch, out, timing, resumed_from, compile_s)


def _checkpoint_state(identity, agent, optimizer, generator, search, run_state, stopper, engine) -> dict[str, Any]:
    return {
        "identity": identity,
        "agent": agent.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "progress": dict(run_state.progress),
        "stopper": stopper.state_dict() if stopper is not None else None,
        "search": search.state_dict(),
        "trained": run_state.trained,
        "curve": [list(point) for point in run_state.curve],
        "torch_rng": torch.get_rng_state(),  # the policy samples actions from the global generator
        "env_rng": engine.rng_state(),
    }


def _restore_env_rng(engine: Any, state: dict[str, Any], path: Path) -> None:
    try:
        engine.restore_rng_state(state)
    except (TypeError, ValueError, KeyError, CheckpointError) as error:
        engine.close()  # stops the original trainer's workers now, not at exit
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{path}: the simulator's RNG state is malformed") from None


def _finish(config, search, run_state, agent, device, stopwatch, out, timing, resumed_from, compile_s) -> TrainResult:
    """Evaluate the best workflow's policy on fresh seeded episodes and gather the run's numbers."""
    best = search.best()
    final_workflow = best.workflow if best else (config.workflow or (0, 1, 2, 3, 4))
    policy = _policy_for(final_workflow, run_state.trained, agent, device)
    evaluation = evaluate_agent(
        policy, config.red_agent, final_workflow, config.eval_episodes, seed=10_000 + config.seed, device=device
    )
    progress = run_state.progress
    if config.tensorboard is not None:
        log_evaluation(config.tensorboard, progress["episodes"], evaluation)
    return TrainResult(
        out=out,
        episodes=progress["episodes"],
        env_steps=progress["episodes"] * EPISODE_STEPS,
        updates=progress["updates"],
        wall_s=timing["wall_s"],
        loop_s=timing["loop_s"],
        time_split=stopwatch.totals(),
        cpu_split=stopwatch.cpu_totals(),
        workflows=[{**asdict(r), "workflow": workflow_name(r.workflow)} for r in search.results],
        eval_return=evaluation["return"],
        eval_compliance=evaluation["compliance"],
        resumed_from=resumed_from,
        compile_s=compile_s,
        curve=run_state.curve,
    )


_NOTES = logging.getLogger("workflow_rl")


def _search(config, search, backend, run_state, agent, engine, make_run, save, stopwatch, log_episodes) -> None:
    """Train workflow after workflow until the episode budget, or after the one ``--workflow``."""
    progress = run_state.progress
    while progress["episodes"] < config.total_episodes:
        # ---- pick the next workflow, inheriting the nearest trained policy ----
        if progress["workflow"] is None:
            proposal = config.workflow if config.workflow is not None else search.propose()
            if proposal is None or (config.workflow is not None and search.results):
                if proposal is None:
                    unused = config.total_episodes - progress["episodes"]
                    _NOTES.warning(
                        "workflow search: every one of the %d workflows is trained after %d of the %d budgeted "
                        "episodes; the other %d episodes are not used",
                        len(search.candidates), progress["episodes"], config.total_episodes, unused,
                    )  # fmt: skip
                return
            nearest = search.nearest_trained(tuple(proposal))
            if nearest is not None:
                agent.load_state_dict(run_state.trained[workflow_name(nearest)])
            progress.update(workflow=list(proposal), workflow_episodes=0)
            run_state.stopper = None
        workflow = tuple(progress["workflow"])
        stopper = new_stopper(config)
        if run_state.stopper is not None:
            stopper.load_state_dict(run_state.stopper)
        engine.set_workflow(workflow)
        run = make_run(stopper)
        result = _run_workflow(workflow, run, backend, stopwatch, log_episodes)
        search.observe(result)
        run_state.trained[workflow_name(workflow)] = copy.deepcopy(agent.state_dict())
        progress.update(workflow=None, workflow_episodes=0)
        run_state.stopper = None
        save(None)
        if config.workflow is not None:
            return


def _run_workflow(workflow, run: WorkflowRun, backend: SearchBackend, stopwatch, log_episodes) -> WorkflowResult:
    if not backend.isolated:
        (result,) = backend.run_trials(functools.partial(train_workflow, run=run), [workflow])
        return result
    (outcome,) = backend.run_trials(IsolatedTrial(run.config, TrialState.capture(run)), [workflow])
    outcome.state.restore(run)
    for rows, mean_return in outcome.batches:
        log_episodes(rows, mean_return)
    for name, seconds in outcome.time_split.items():
        stopwatch.add(name, seconds)
    return outcome.result


def _loss_function(config: TrainConfig, agent: ActorCritic, device: torch.device) -> tuple[Any, float]:
    """The PPO loss, compiled when ``config.compile``; compiling happens here, on a zero minibatch (no RNG
    draw, gradients dropped), so that its seconds are reported apart from the training loop's."""
    if not config.compile:
        return ppo_loss, 0.0
    compiled = torch.compile(ppo_loss)
    size = max(1, config.n_envs * config.update_steps // 4)
    zeros = torch.zeros(size, device=device)
    started = time.perf_counter()
    obs = torch.zeros(size, OBS_DIM, device=device)
    loss, _ = compiled(agent, obs, zeros.long(), zeros, zeros, zeros, 0.2, 0.5, 0.01)
    loss.backward()
    agent.zero_grad(set_to_none=True)
    return compiled, time.perf_counter() - started


def _policy_for(
    workflow: tuple[int, ...], trained: dict[str, dict[str, torch.Tensor]], agent: ActorCritic, device: torch.device
) -> ActorCritic:
    name = workflow_name(workflow)
    if name not in trained:
        return agent
    policy = make_agent(OBS_DIM, N_ACTIONS, isinstance(agent, FusedActorCritic)).to(device)
    policy.load_state_dict(trained[name])
    return policy


def _exit_on_sigterm() -> Any:
    """Turn SIGTERM into SystemExit so the ``finally`` above stops workers and unlinks shared memory."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, None):

        def stop(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop)
        return previous
    return None
