"""The bench's ``extra_comparisons``: throughput and CPU split, PPO peers on the same simulator, the simulator
alone against mini_CAGE's published speed, and the trained agent against baselines, the best constant policy
and CAGE-2's published winners. Anything from another simulator is labelled as such: a reference, not a peer.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.timing import measure
from workflow_rl.baselines import BASELINES, evaluate_policy, make_baseline
from workflow_rl.config import TrainConfig, with_trainer
from workflow_rl.sim import EPISODE_STEPS, N_ACTIONS, OBS_DIM, NetDefenseEnv, NetDefenseSim
from workflow_rl.trainer import train
from workflow_rl.update_profile import profile_update

__all__ = ["SB3VecEnv", "extra_comparisons"]

# Published by others, on other simulators and machines: shown for reference only.
MINI_CAGE_ANCHOR = {
    "source": "alan-turing-institute/CAGE_2_Fixed mini_CAGE/README.md, Speed table",
    "episodes": 1000,
    "seconds": 1.35,
    "env_steps_per_s": 1000 * EPISODE_STEPS / 1.35,
    "note": "another simulator (mini_CAGE), another machine, one CPU; not run here",
}
CAGE2_WINNERS = {
    "source": "john-cardiff/-cyborg-cage-2 README (CAGE-2 winner, PPO), 100-step episodes",
    "bline": -13.0,
    "meander": -16.0,
    "note": "CybORG CAGE-2 scores, another simulator: a reference point, not a peer on ours",
}


def _fast_train(n_envs: int, episodes: int, seed: int, device: str, eval_episodes: int = 16):
    with tempfile.TemporaryDirectory(prefix="wfrl_peer_") as folder:
        config = TrainConfig(
            n_envs=n_envs,
            total_episodes=episodes,
            max_episodes=episodes,
            workflow=(2, 1, 0, 3, 4),
            seed=seed,
            device=device,
            out=Path(folder),
            compliance_threshold=None,
            checkpoint_every_s=float("inf"),
            eval_episodes=eval_episodes,
        )
        return train(with_trainer(config, "fast"), show_progress=False)


def _throughput(preset: Any, device: str) -> dict[str, Any]:
    """The fast trainer's env steps per wall- and CPU-second by N, and its CPU split at the bench's N."""
    rows = []
    split: dict[str, float] = {}
    for n_envs in preset.throughput_n:
        episodes = n_envs * preset.throughput_episodes
        result, wall, cpu = measure(functools.partial(_fast_train, n_envs, episodes, 0, device))
        steps = episodes * EPISODE_STEPS
        rows.append({"n_envs": n_envs, "env_steps_per_s": steps / wall, "env_steps_per_cpu_s": steps / cpu})
        if n_envs == preset.n_envs:
            total = sum(result.cpu_split.values())
            split = {name: seconds / total for name, seconds in sorted(result.cpu_split.items())}
    update_share = split.get("update", float("nan"))
    profile = profile_update(preset.n_envs)
    return {
        "summary": f"fast trainer at N={preset.n_envs}: PPO update {update_share:.0%} of the loop's CPU time "
        f"(goal <= 45%); CPU split {', '.join(f'{k} {v:.0%}' for k, v in split.items())}; the update "
        f"{profile['summary']}",
        "rows": rows,
        "cpu_split_at_n": split,
        "update_cpu_share": update_share,
        "update_profile": profile,
        "note": "throughput runs include each run's start-up and 16-episode evaluation",
    }


class SB3VecEnv:
    """Stable-Baselines3's ``VecEnv`` over the batched simulator (built lazily, so SB3 stays optional)."""

    def __new__(cls, n_envs: int, seed: int = 0):
        from gymnasium import spaces
        from stable_baselines3.common.vec_env import VecEnv

        class _Adapter(VecEnv):
            def __init__(self) -> None:
                self.sim = NetDefenseSim(n_envs, "bline", (2, 1, 0, 3, 4), seed=seed)
                space = spaces.Box(0.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)
                super().__init__(n_envs, space, spaces.Discrete(N_ACTIONS))
                self._actions = np.zeros(n_envs, dtype=np.int64)

            def reset(self):
                return self.sim.reset()

            def step_async(self, actions):
                self._actions = np.asarray(actions)

            def step_wait(self):
                obs, reward, done, _ = self.sim.step(self._actions)
                infos = [{} for _ in range(self.num_envs)]
                if done.all():
                    for index in range(self.num_envs):
                        infos[index] = {"terminal_observation": obs[index], "TimeLimit.truncated": True}
                    obs = self.sim.reset()
                return obs, reward, done, infos

            def close(self):
                pass

            def get_attr(self, name, indices=None):
                return [getattr(self, name)] * self.num_envs

            def set_attr(self, name, value, indices=None):
                setattr(self, name, value)

            def env_method(self, name, *args, indices=None, **kwargs):
                return [None] * self.num_envs

            def env_is_wrapped(self, wrapper_class, indices=None):
                return [False] * self.num_envs

            def seed(self, seed=None):
                return [seed] * self.num_envs

        return _Adapter()


def _sb3_run(kind: str, n_envs: int, steps: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    make_env = functools.partial(NetDefenseEnv, red_agent="bline", workflow=(2, 1, 0, 3, 4))
    if kind == "batched":
        env = SB3VecEnv(n_envs)
    elif kind == "dummy":
        env = DummyVecEnv([make_env] * n_envs)
    else:
        env = SubprocVecEnv([make_env] * n_envs, start_method="fork")
    try:
        # The same PPO settings as ours: 50-step rollouts, 4 epochs of 4 minibatches, lr 1e-3, clip 0.2, GAE 0.95.
        model = PPO("MlpPolicy", env, n_steps=50, batch_size=n_envs * 50 // 4, n_epochs=4, learning_rate=1e-3,
                    seed=0, device="cpu", verbose=0)  # fmt: skip
        model.learn(total_timesteps=steps)
        return float(model.num_timesteps)
    finally:
        env.close()


def _peers(preset: Any, device: str) -> dict[str, Any]:
    """PPO at the same N and env steps: ours against SB3 on three env set-ups, per CPU-second and wall."""
    n_envs, steps = preset.n_envs, preset.peer_env_steps
    rows = []
    _, wall, cpu = measure(functools.partial(_fast_train, n_envs, steps // EPISODE_STEPS, 0, device))
    rows.append({"setup": "ours (fast trainer)", "env_steps": steps, "wall_s": wall, "cpu_s": cpu})
    for kind, label in (
        ("batched", "SB3 PPO on our batched simulator (VecEnv adapter)"),
        ("dummy", "SB3 PPO + DummyVecEnv"),
        ("subproc", "SB3 PPO + SubprocVecEnv"),
    ):
        done, wall, cpu = measure(functools.partial(_sb3_run, kind, n_envs, steps))
        rows.append({"setup": label, "env_steps": done, "wall_s": wall, "cpu_s": cpu})
    for row in rows:
        row["env_steps_per_s"] = row["env_steps"] / row["wall_s"]
        row["env_steps_per_cpu_s"] = row["env_steps"] / row["cpu_s"]
    ours = rows[0]
    ratios = {row["setup"]: ours["env_steps_per_cpu_s"] / row["env_steps_per_cpu_s"] for row in rows[1:]}
    return {
        "summary": f"at N={n_envs}, {steps} env steps, per CPU-second ours over: "
        + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
        + " (goal >= 1.5x SB3 on the same batched simulator)",
        "rows": rows,
        "ours_over_peer_per_cpu_s": ratios,
        "ours_over_peer_per_wall_s": {
            row["setup"]: ours["env_steps_per_s"] / row["env_steps_per_s"] for row in rows[1:]
        },
        "note": "SB3 runs include model construction; CPU includes reaped SubprocVecEnv workers",
    }


def _simulator_alone(preset: Any) -> dict[str, Any]:
    """The batched simulator stepping ``sim_episodes`` parallel episodes with random actions, no learner."""
    n = preset.sim_episodes
    rng = np.random.default_rng(0)
    actions = rng.integers(0, N_ACTIONS, size=(EPISODE_STEPS, n))
    sim = NetDefenseSim(n, "bline", (2, 1, 0, 3, 4), seed=0)

    def play() -> None:
        sim.reset()
        for step in range(EPISODE_STEPS):
            sim.step(actions[step])

    play()  # warm-up
    _, wall, cpu = measure(play)
    steps = n * EPISODE_STEPS
    return {
        "summary": f"{n} parallel episodes x 100 steps in {wall:.2f} s wall ({steps / wall:,.0f} env steps/s, "
        f"{steps / cpu:,.0f} per CPU-second); mini_CAGE's published anchor (another simulator, another machine): "
        f"{MINI_CAGE_ANCHOR['env_steps_per_s']:,.0f} env steps/s",
        "episodes": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "env_steps_per_s": steps / wall,
        "env_steps_per_cpu_s": steps / cpu,
        "mini_cage_anchor": MINI_CAGE_ANCHOR,
    }


def _opponents(preset: Any, device: str) -> dict[str, Any]:
    """A longer fast-trainer run against react_restore, the other baselines and the best constant policy."""
    result = _fast_train(preset.quality_envs, preset.quality_episodes, 0, device, preset.baseline_episodes)
    episodes = preset.baseline_episodes
    scores = {
        name: evaluate_policy(make_baseline(name), "bline", (2, 1, 0, 3, 4), episodes, seed=10_000)["return_mean"]
        for name in BASELINES
    }
    constants = {
        action: evaluate_policy(lambda obs, a=action: np.full(len(obs), a), "bline", (2, 1, 0, 3, 4), 200, seed=10_000)[
            "return_mean"
        ]
        for action in range(N_ACTIONS)
    }
    best_action = max(constants, key=constants.get)
    trained = result.eval_return
    return {
        "summary": f"fast trainer after {result.episodes} episodes at N={preset.quality_envs}: {trained:.0f} vs "
        f"react_restore {scores['react_restore']:.0f} ({trained - scores['react_restore']:+.0f}), best constant "
        f"policy (action {best_action}) {constants[best_action]:.0f} ({trained - constants[best_action]:+.0f}); "
        f"CAGE-2 winner on CybORG (another simulator): {CAGE2_WINNERS['bline']:.0f}",
        "trained_return": trained,
        "trained_compliance": result.eval_compliance,
        "episodes": result.episodes,
        "baselines": scores,
        "best_constant_action": best_action,
        "best_constant_return": constants[best_action],
        "margin_over_react_restore": trained - scores["react_restore"],
        "margin_over_best_constant": trained - constants[best_action],
        "cage2_published_winners": CAGE2_WINNERS,
    }


def extra_comparisons(preset: Any, device: str) -> dict[str, Any]:
    return {
        "throughput": _throughput(preset, device),
        "peers": _peers(preset, device),
        "simulator_alone": _simulator_alone(preset),
        "opponents": _opponents(preset, device),
    }
