"""The workflow-conditioned PPO trainer both paths share; the path is a config difference.

``ORIGINAL``: one process per env behind a shared-memory pipe barrier, a true-state query per step,
an update every 100 steps, a CSV row flushed per episode. ``FAST``: the batched simulator in one
process, batched inference, an update every 50 steps (GAE bootstraps V at the cut), CSV rows in
batches of 100. Same simulator, same PPO, same seeds.

The outer loop picks workflows (``--workflow`` or GP-UCB), starts each from the nearest trained one,
and stops a workflow at its episode cap or when its compliance reaches the threshold.
"""

from __future__ import annotations

import copy
import functools
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainkit import (
    ConfigError,
    EarlyStopping,
    load_checkpoint,
    progress_bar,
    require,
    resolve_device,
    save_checkpoint,
    seed_everything,
)
from workflow_rl.logs import default_log_dir, open_episode_log, trim_episode_log
from workflow_rl.ppo import (
    STAT_NAMES,
    ActorCritic,
    FusedActorCritic,
    PPOConfig,
    compute_gae,
    make_agent,
    make_optimizer,
    ppo_loss,
    ppo_update,
)
from workflow_rl.search import GPUCBSearch, LocalBackend, SearchBackend, WorkflowResult
from workflow_rl.shm_engine import SharedMemoryEngine
from workflow_rl.sim import EPISODE_STEPS, N_ACTIONS, OBS_DIM, RED_AGENTS, NetDefenseSim, SimParams
from workflow_rl.timing import CpuStopwatch
from workflow_rl.workflows import DEFAULT_ALIGNMENT_LAMBDA, episode_compliance, workflow_name

__all__ = [
    "FAST",
    "ORIGINAL",
    "IsolatedTrial",
    "TrainConfig",
    "TrainResult",
    "TrialOutcome",
    "TrialState",
    "WorkflowRun",
    "evaluate_agent",
    "train",
    "train_workflow",
    "with_path",
]

CHECKPOINT_NAME = "checkpoint.pt"
PACKAGE, CHECKPOINT_KIND = "workflow_rl", "train_state"
# Settings that must match for a run to resume from a checkpoint in the same folder.
RESUME_KEYS = ("engine", "n_envs", "update_steps", "red_agent", "workflow", "seed", "alignment_lambda", "lr")


@dataclass(frozen=True)
class TrainConfig:
    n_envs: int = 200
    total_episodes: int = 100_000
    max_episodes: int = 50  # episode cap per workflow
    update_steps: int = 50
    red_agent: str = "bline"
    workflow: tuple[int, ...] | None = None  # None: GP-UCB search over all 120
    seed: int = 0
    device: str = "auto"
    out: Path | None = None
    engine: str = "batched"  # or "shared_memory" (original)
    csv_batch_size: int = 100  # 1 = write and flush every episode row (original)
    alignment_lambda: float = DEFAULT_ALIGNMENT_LAMBDA
    compliance_threshold: float | None = 0.95
    patience: int = 0  # compliance checks without improvement before a workflow stops; 0 = off
    min_episodes: int = 0  # per workflow, before the compliance threshold may stop it
    lr: float = 1e-3
    reward_scale: float = 0.1  # PPO sees reward * scale; logs show the raw returns
    mixed_precision: bool = False
    torch_threads: int = 1
    checkpoint_every_s: float = 30.0
    start_method: str = "fork"
    eval_episodes: int = 200
    fused_adam: bool = False  # one Adam kernel over all parameters instead of a loop (same maths)
    fused_forward: bool = False  # actor and critic layers as stacked matmuls (same maths, fewer calls)
    compile: bool = False  # torch.compile the PPO loss; its compile time is reported apart

    def validate(self) -> None:
        if self.n_envs < 1 or self.total_episodes < 1 or self.max_episodes < 1:
            raise ConfigError("--n-envs, --total-episodes and --max-episodes must all be >= 1")
        if self.update_steps < 1 or not (
            EPISODE_STEPS % self.update_steps == 0 or self.update_steps % EPISODE_STEPS == 0
        ):
            raise ConfigError(
                f"--update-steps {self.update_steps}: must divide or be a multiple of the {EPISODE_STEPS}-step episode"
            )
        if self.red_agent not in RED_AGENTS:
            raise ConfigError(f"--red-agent must be one of {', '.join(RED_AGENTS)}")
        if self.engine not in ("batched", "shared_memory"):
            raise ConfigError(f"engine must be batched or shared_memory, got {self.engine!r}")
        if self.engine == "shared_memory" and self.n_envs > 256:
            raise ConfigError(f"--n-envs {self.n_envs}: the one-process-per-env path is capped at 256 workers")
        if self.compliance_threshold is not None and not 0.0 < self.compliance_threshold <= 1.0:
            raise ConfigError("--compliance-threshold must be in (0, 1]")
        if self.csv_batch_size < 1:
            raise ConfigError("csv batch size must be >= 1")


ORIGINAL = {
    "engine": "shared_memory",
    "update_steps": 100,
    "csv_batch_size": 1,
    "fused_adam": False,
    "fused_forward": False,
}
FAST = {"engine": "batched", "update_steps": 50, "csv_batch_size": 100, "fused_adam": True}
# The stacked forward saves CPU per update up to here and costs more above (measured per N; README).
FUSED_FORWARD_MAX_ENVS = 64


@dataclass
class TrainResult:
    out: Path
    episodes: int
    env_steps: int
    updates: int
    wall_s: float  # whole run: engine start-up, training loop, logging (evaluation excluded)
    loop_s: float  # training loop only (what the throughput table uses)
    time_split: dict[str, float]  # wall seconds per section
    workflows: list[dict[str, Any]]
    eval_return: float
    eval_compliance: float
    resumed_from: int = 0
    cpu_split: dict[str, float] = field(default_factory=dict)  # process CPU seconds per section (this process)
    compile_s: float = 0.0  # torch.compile's warm-up (compiling the loss and its backward), not in loop_s
    curve: list[tuple[int, float]] = field(default_factory=list)  # (episodes, mean env return of the batch)

    @property
    def episodes_per_s(self) -> float:
        return (self.episodes - self.resumed_from) / self.loop_s if self.loop_s > 0 else math.nan

    @property
    def steps_per_s(self) -> float:
        return self.episodes_per_s * EPISODE_STEPS


def _make_engine(config: TrainConfig, workflow: tuple[int, ...], seed: int):
    if config.engine == "shared_memory":
        return SharedMemoryEngine(
            config.n_envs, config.red_agent, workflow, config.alignment_lambda, seed, start_method=config.start_method
        )
    return NetDefenseSim(config.n_envs, config.red_agent, workflow, config.alignment_lambda, SimParams(), seed=seed)


def evaluate_agent(
    agent: ActorCritic, red_agent: str, workflow: tuple[int, ...], episodes: int, seed: int, device: torch.device
) -> dict[str, float]:
    """Play ``episodes`` fresh episodes with the stochastic policy on the batched simulator."""
    sim = NetDefenseSim(episodes, red_agent, workflow, seed=seed)
    obs = sim.reset()
    returns, fixes, compliant = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes)
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    with torch.inference_mode():
        for _ in range(EPISODE_STEPS):
            actions, _, _ = agent.act(torch.as_tensor(obs, device=device))
            obs, _, _, info = sim.step(actions.cpu().numpy())
            returns += info["env_reward"]
            fixes += info["fix"]
            compliant += info["compliant"]
    torch.set_rng_state(generator_state)
    compliance = episode_compliance(compliant, fixes)
    return {
        "return": float(returns.mean()),
        "compliance": float(np.nanmean(compliance)) if np.isfinite(compliance).any() else math.nan,
    }


@dataclass
class WorkflowRun:
    """What one workflow's training works on and reports to.

    In process these are the trainer's live objects; an isolated trial (another process, e.g. a Ray Tune
    trial) rebuilds them from a :class:`TrialState` and collects the episode rows instead of logging them.
    """

    config: TrainConfig
    agent: ActorCritic
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    engine: Any
    device: torch.device
    progress: dict[str, Any]
    stopper: EarlyStopping
    stopwatch: CpuStopwatch
    log_episodes: Callable[[list[dict[str, Any]], float], None]  # a finished batch's rows and mean env return
    at_episode_boundary: Callable[[], None] = lambda: None  # where the in-process trainer may checkpoint
    loss_fn: Callable[..., Any] = ppo_loss  # or its torch.compile'd version (--compile)


def train_workflow(workflow: tuple[int, ...], run: WorkflowRun) -> WorkflowResult:
    """Train ``run.agent`` on one workflow until its episode cap, the run's budget or early stopping."""
    config, agent, optimizer, engine, progress = run.config, run.agent, run.optimizer, run.engine, run.progress
    stopwatch, device = run.stopwatch, run.device
    ppo = PPOConfig(lr=config.lr, mixed_precision=config.mixed_precision)
    n, horizon = config.n_envs, config.update_steps
    # A batched engine that ended the last workflow's episode is already reset: stepping on from it keeps the
    # RNG stream identical whether or not the run was resumed at this workflow boundary.
    obs = engine.observe() if getattr(engine, "fresh", False) else engine.reset()
    obs_buf = np.zeros((horizon, n, OBS_DIM), dtype=np.float32)
    actions_buf = np.zeros((horizon, n), dtype=np.int64)
    logprob_buf = np.zeros((horizon, n), dtype=np.float32)
    value_buf = np.zeros((horizon, n), dtype=np.float32)
    reward_buf = np.zeros((horizon, n), dtype=np.float32)
    done_buf = np.zeros((horizon, n), dtype=np.float32)
    episode_env = np.zeros(n)
    episode_alignment = np.zeros(n)
    episode_fixes = np.zeros(n)
    episode_compliant = np.zeros(n)
    recent_returns: list[float] = []
    recent_compliance = math.nan
    threshold_met = False
    while progress["workflow_episodes"] < config.max_episodes and progress["episodes"] < config.total_episodes:
        # ---- rollout: update_steps steps of every env ----
        for t in range(horizon):
            with stopwatch.section("inference"), torch.inference_mode():
                action, logprob, value = agent.act(torch.as_tensor(obs, device=device))
                actions = action.cpu().numpy()
            with stopwatch.section("env_step"):
                next_obs, reward, done, info = engine.step(actions)
            obs_buf[t], actions_buf[t] = obs, actions
            logprob_buf[t], value_buf[t] = logprob.cpu().numpy(), value.cpu().numpy()
            reward_buf[t], done_buf[t] = reward * config.reward_scale, done
            episode_env += info["env_reward"]
            episode_alignment += info["alignment"]
            episode_fixes += info["fix"]
            episode_compliant += info["compliant"]
            obs = next_obs
            if done.all():  # the fixed horizon ends every env on the same step
                with stopwatch.section("logging"):
                    compliance = episode_compliance(episode_compliant, episode_fixes)
                    rows = [
                        {
                            "episode": progress["episodes"] + i,
                            "workflow": workflow_name(workflow),
                            "env_return": round(float(episode_env[i]), 3),
                            "alignment_return": round(float(episode_alignment[i]), 3),
                            "fixes": int(episode_fixes[i]),
                            "compliance": "" if math.isnan(compliance[i]) else round(float(compliance[i]), 4),
                            "update": progress["updates"],
                            **progress["ppo"],
                        }
                        for i in range(n)
                    ]
                    run.log_episodes(rows, float(episode_env.mean()))
                progress["episodes"] += n
                progress["workflow_episodes"] += n
                recent_returns = episode_env.tolist()
                recent_compliance = float(np.nanmean(compliance)) if np.isfinite(compliance).any() else math.nan
                episode_env[:], episode_alignment[:], episode_fixes[:], episode_compliant[:] = 0, 0, 0, 0
                with stopwatch.section("env_step"):
                    obs = engine.reset()

        # ---- PPO update, bootstrapping V where the rollout cuts an episode ----
        with stopwatch.section("update"):
            with torch.inference_mode():
                last_value = agent.value(torch.as_tensor(obs, device=device)).cpu().numpy()
            advantages, returns = compute_gae(reward_buf, value_buf, done_buf, last_value, ppo.gamma, ppo.gae_lambda)
            flat = lambda a: torch.as_tensor(a.reshape(horizon * n, *a.shape[2:]), device=device)  # noqa: E731
            stats = ppo_update(
                agent,
                optimizer,
                flat(obs_buf),
                flat(actions_buf),
                flat(logprob_buf),
                flat(advantages),
                flat(returns),
                ppo,
                run.generator,
                run.loss_fn,
            )
        progress["updates"] += 1
        progress["ppo"] = {name: round(value, 6) for name, value in stats.items()}

        # ---- at an episode boundary: compliance-based early stop, checkpoint ----
        if progress["updates"] * horizon % EPISODE_STEPS == 0:
            if (
                config.compliance_threshold is not None
                and math.isfinite(recent_compliance)
                and progress["workflow_episodes"] >= config.min_episodes
            ):
                threshold_met = recent_compliance >= config.compliance_threshold
                if threshold_met or (config.patience > 0 and run.stopper.step(recent_compliance)):
                    break
            run.at_episode_boundary()
    return WorkflowResult(
        workflow=workflow,
        env_return=float(np.mean(recent_returns)) if recent_returns else math.nan,
        compliance=recent_compliance,
        episodes=progress["workflow_episodes"],
        threshold_met=bool(threshold_met),
    )


@dataclass
class TrialState:
    """Everything a workflow's training reads and changes, on the CPU, so that a trial can run elsewhere."""

    agent: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    generator: torch.Tensor
    torch_rng: torch.Tensor  # the global generator: the policy samples actions from it
    env_rng: dict[str, Any]  # the batched simulator's numpy bit-generator state
    progress: dict[str, Any]
    stopper: dict[str, Any] | None

    @classmethod
    def capture(cls, run: WorkflowRun) -> TrialState:
        return cls(
            agent=_to_cpu(run.agent.state_dict()),
            optimizer=_to_cpu(run.optimizer.state_dict()),
            generator=run.generator.get_state(),
            torch_rng=torch.get_rng_state(),
            env_rng=copy.deepcopy(run.engine.rng.bit_generator.state),
            progress=dict(run.progress),
            stopper=run.stopper.state_dict(),
        )

    def restore(self, run: WorkflowRun) -> None:
        run.agent.load_state_dict(self.agent)
        run.optimizer.load_state_dict(self.optimizer)
        run.generator.set_state(self.generator)
        torch.set_rng_state(self.torch_rng)
        run.engine.rng.bit_generator.state = self.env_rng
        run.progress.update(self.progress)
        if self.stopper is not None:
            run.stopper.load_state_dict(self.stopper)


@dataclass
class TrialOutcome:
    """An isolated trial's result, its end state and what it would have logged."""

    result: WorkflowResult
    state: TrialState
    batches: list[tuple[list[dict[str, Any]], float]]  # (episode rows, mean env return) per finished batch
    time_split: dict[str, float]  # wall seconds per section


@dataclass
class IsolatedTrial:
    """One workflow's training that needs nothing from the trainer's process: picklable, for remote backends.

    It rebuilds the agent, optimizer, RNGs and simulator from ``state``, runs :func:`train_workflow` (the
    same code as in process) and returns a :class:`TrialOutcome`; the trainer then applies it, so a
    search gives the same workflows and returns as with the in-process backend.
    """

    config: TrainConfig
    state: TrialState

    def __call__(self, workflow: tuple[int, ...]) -> TrialOutcome:
        config = self.config
        torch.set_num_threads(config.torch_threads)
        device = resolve_device(config.device)
        agent = make_agent(OBS_DIM, N_ACTIONS, config.fused_forward).to(device)
        batches: list[tuple[list[dict[str, Any]], float]] = []
        run = WorkflowRun(
            config=config,
            agent=agent,
            optimizer=make_optimizer(agent, config.lr, config.fused_adam),
            generator=torch.Generator(),
            engine=NetDefenseSim(config.n_envs, config.red_agent, workflow, config.alignment_lambda, SimParams()),
            device=device,
            progress={},
            stopper=EarlyStopping("compliance", patience=config.patience, mode="max", min_delta=0.005),
            stopwatch=CpuStopwatch(),
            log_episodes=lambda rows, mean_return: batches.append((rows, mean_return)),
        )
        self.state.restore(run)
        result = train_workflow(workflow, run)
        return TrialOutcome(result, TrialState.capture(run), batches, run.stopwatch.totals())


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    return value


def train(config: TrainConfig, backend: SearchBackend | None = None, show_progress: bool = True) -> TrainResult:
    """Train (or resume) per ``config``; every rerun of the same command continues the same run."""
    config.validate()
    started = time.perf_counter()
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    suffix = "fast" if config.engine == "batched" else "original"
    out = Path(config.out) if config.out is not None else default_log_dir(suffix)
    out.mkdir(parents=True, exist_ok=True)
    backend = backend or LocalBackend()
    if backend.isolated and config.engine != "batched":
        raise ConfigError("a backend that runs trials in other processes needs the fast path (batched engine)")
    ppo = PPOConfig(lr=config.lr, mixed_precision=config.mixed_precision)

    agent = make_agent(OBS_DIM, N_ACTIONS, config.fused_forward).to(device)
    optimizer = make_optimizer(agent, ppo.lr, config.fused_adam)
    generator = torch.Generator().manual_seed(config.seed)
    search = GPUCBSearch(seed=config.seed)
    progress: dict[str, Any] = {
        "episodes": 0,
        "updates": 0,
        "workflow": None,
        "workflow_episodes": 0,
        "ppo": dict.fromkeys(STAT_NAMES, ""),  # the latest update's statistics, logged with each episode
    }
    stopper_state: dict[str, Any] | None = None
    env_rng: dict[str, Any] | None = None
    trained: dict[str, dict[str, torch.Tensor]] = {}
    curve: list[tuple[int, float]] = []

    identity = {key: _plain(getattr(config, key)) for key in RESUME_KEYS}
    checkpoint_path = out / CHECKPOINT_NAME
    if checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, map_location=device, package=PACKAGE, kind=CHECKPOINT_KIND)
        read = functools.partial(require, state, source=checkpoint_path)
        if read("identity", dict) != identity:
            raise ConfigError(f"{out} holds a run with other settings ({state['identity']}); use a new --out")
        agent.load_state_dict(read("agent", dict))
        optimizer.load_state_dict(read("optimizer", dict))
        generator.set_state(read("generator", torch.Tensor))
        progress = dict(read("progress", dict))
        stopper_state = read("stopper", (dict, type(None)))
        search.load_state_dict(read("search", dict))
        trained = read("trained", dict)
        curve = [tuple(point) for point in read("curve", list)]
        torch.set_rng_state(read("torch_rng", torch.Tensor))
        env_rng = read("env_rng", (dict, type(None)))
    resumed_from = progress["episodes"]
    trim_episode_log(out / "episodes.csv", resumed_from)

    def save() -> None:
        logger.flush()  # the log never trails the checkpoint
        save_checkpoint(
            checkpoint_path,
            package=PACKAGE,
            kind=CHECKPOINT_KIND,
            state={
                "identity": identity,
                "agent": agent.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "progress": dict(progress),
                "stopper": stopper.state_dict() if stopper is not None else None,
                "search": search.state_dict(),
                "trained": trained,
                "curve": [list(point) for point in curve],
                "torch_rng": torch.get_rng_state(),  # the policy samples actions from the global generator
                "env_rng": getattr(engine, "reset_rng_state", None),
            },
        )

    first_workflow = progress["workflow"] or config.workflow or search.propose()
    env_seed = int(np.random.SeedSequence([config.seed, 0]).generate_state(1)[0])
    engine = _make_engine(config, tuple(first_workflow) if first_workflow else (0, 1, 2, 3, 4), env_seed)
    if resumed_from and env_rng is not None:
        # Resume the batched simulator's stream where the checkpoint left it (at its latest reset).
        engine.rng.bit_generator.state = env_rng
    loss_fn, compile_s = _loss_function(config, agent, device)
    logger = open_episode_log(out / "episodes.csv", config.csv_batch_size)
    stopwatch = CpuStopwatch()
    stopper: EarlyStopping | None = None
    loop_started = time.perf_counter()
    last_save = loop_started
    quiet = {} if show_progress else {"disable": True}
    bar = progress_bar(total=config.total_episodes, initial=resumed_from, desc="episodes", unit="ep", **quiet)

    def log_episodes(rows: list[dict[str, Any]], mean_return: float) -> None:
        wall_s = round(time.perf_counter() - loop_started, 4)
        for row in rows:
            logger.log({**row, "wall_s": wall_s})
        curve.append((rows[-1]["episode"] + 1, mean_return))
        bar.update(len(rows))

    def checkpoint_if_due() -> None:
        nonlocal last_save
        if time.perf_counter() - last_save >= config.checkpoint_every_s:
            save()
            last_save = time.perf_counter()

    previous_sigterm = _exit_on_sigterm()
    try:
        while progress["episodes"] < config.total_episodes:
            # ---- pick the next workflow, inheriting the nearest trained policy ----
            if progress["workflow"] is None:
                proposal = config.workflow if config.workflow is not None else search.propose()
                if proposal is None or (config.workflow is not None and search.results):
                    break
                nearest = search.nearest_trained(tuple(proposal))
                if nearest is not None:
                    agent.load_state_dict(trained[workflow_name(nearest)])
                progress.update(workflow=list(proposal), workflow_episodes=0)
                stopper_state = None
            workflow = tuple(progress["workflow"])
            stopper = EarlyStopping("compliance", patience=config.patience, mode="max", min_delta=0.005)
            if stopper_state is not None:
                stopper.load_state_dict(stopper_state)
            engine.set_workflow(workflow)

            run = WorkflowRun(
                config,
                agent,
                optimizer,
                generator,
                engine,
                device,
                progress,
                stopper,
                stopwatch,
                log_episodes=log_episodes,
                at_episode_boundary=checkpoint_if_due,
                loss_fn=loss_fn,
            )
            if backend.isolated:
                (outcome,) = backend.run_trials(IsolatedTrial(config, TrialState.capture(run)), [workflow])
                outcome.state.restore(run)
                for rows, mean_return in outcome.batches:
                    log_episodes(rows, mean_return)
                for name, seconds in outcome.time_split.items():
                    stopwatch.add(name, seconds)
                result = outcome.result
            else:
                (result,) = backend.run_trials(functools.partial(train_workflow, run=run), [workflow])
            search.observe(result)
            trained[workflow_name(workflow)] = copy.deepcopy(agent.state_dict())
            progress.update(workflow=None, workflow_episodes=0)
            stopper_state = None
            stopper = None
            save()
            last_save = time.perf_counter()
            if config.workflow is not None:
                break
    finally:
        bar.close()
        logger.close()
        engine.close()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    loop_s = time.perf_counter() - loop_started
    wall_s = time.perf_counter() - started
    final = search.best()
    final_workflow = final.workflow if final else (config.workflow or (0, 1, 2, 3, 4))
    evaluation = evaluate_agent(
        _policy_for(final_workflow, trained, agent, device),
        config.red_agent,
        final_workflow,
        config.eval_episodes,
        seed=10_000 + config.seed,
        device=device,
    )
    return TrainResult(
        out=out,
        episodes=progress["episodes"],
        env_steps=progress["episodes"] * EPISODE_STEPS,
        updates=progress["updates"],
        wall_s=wall_s,
        loop_s=loop_s,
        time_split=stopwatch.totals(),
        cpu_split=stopwatch.cpu_totals(),
        workflows=[{**asdict(r), "workflow": workflow_name(r.workflow)} for r in search.results],
        eval_return=evaluation["return"],
        eval_compliance=evaluation["compliance"],
        resumed_from=resumed_from,
        compile_s=compile_s,
        curve=curve,
    )


def _loss_function(config: TrainConfig, agent: ActorCritic, device: torch.device) -> tuple[Any, float]:
    """The PPO loss, compiled when ``config.compile``; compiling happens here, on a zero minibatch (no RNG
    draw, gradients dropped), so that its seconds are reported apart from the training loop's."""
    if not config.compile:
        return ppo_loss, 0.0
    compiled = torch.compile(ppo_loss)
    size = max(1, config.n_envs * config.update_steps // PPOConfig().num_minibatches)
    zeros = torch.zeros(size, device=device)
    started = time.perf_counter()
    loss, _ = compiled(
        agent, torch.zeros(size, OBS_DIM, device=device), zeros.long(), zeros, zeros, zeros, 0.2, 0.5, 0.01
    )
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


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def with_path(config: TrainConfig, path: str) -> TrainConfig:
    """``config`` with the original's or the fast path's settings."""
    settings = {"original": ORIGINAL, "fast": FAST}
    if path not in settings:
        raise ConfigError(f"unknown trainer path {path!r}; use original or fast")
    config = replace(config, **settings[path])
    return replace(config, fused_forward=config.n_envs <= FUSED_FORWARD_MAX_ENVS) if path == "fast" else config
