"""workflow_rl: workflow-conditioned PPO on a batched network-defence simulator."""

from importlib import metadata as _metadata

import gymnasium as gym

__version__ = _metadata.version("workflow_rl")  # one version source: pyproject.toml
ENV_ID = "workflow_rl/NetDefense-v0"

# `gym.make(ENV_ID)` gives the single env; `gym.make_vec(ENV_ID, n, vectorization_mode="vector_entry_point")`
# the batched one. Guarded so that re-importing (e.g. reloading in a notebook) does not warn.
if ENV_ID not in gym.registry:
    gym.register(
        id=ENV_ID,
        entry_point="workflow_rl.sim:NetDefenseEnv",
        vector_entry_point="workflow_rl.sim:NetDefenseVectorEnv",
        disable_env_checker=True,
    )
