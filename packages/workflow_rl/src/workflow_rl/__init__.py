"""workflow_rl: workflow-conditioned PPO on a batched network-defence simulator."""

__version__ = "0.1.0"
