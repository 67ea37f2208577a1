"""The in-iteration validation callback: scores updated weights, keeps the best, stops early."""

from __future__ import annotations

import math
import time
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from ppo_trading.config import NETWORK
from ppo_trading.env import GoldTradingEnv
from ppo_trading.evaluation import evaluate_model
from ppo_trading.policy_store import (
    save_policy,
)
from trainkit import (
    EarlyStopping,
)


class ValidationEarlyStopping(BaseCallback):
    """An eval callback: every ``eval_freq`` env steps, score the policy on the validation window.

    The best-scoring weights are saved to ``best_model_path``. With ``patience > 0`` training stops
    once the score has not improved by more than ``min_delta`` for ``patience`` evaluations
    (``trainkit.EarlyStopping``). Weights that were already scored (no update since) are not scored
    again, and the weights of the last update are scored when training ends.
    """

    def __init__(
        self,
        val_env: GoldTradingEnv,
        eval_freq: int,
        best_model_path: Path,
        evaluator: str,
        patience: int,
        min_delta: float,
    ) -> None:
        super().__init__()
        self.val_env = val_env
        self.eval_freq = eval_freq
        self.best_model_path = best_model_path
        self.evaluator = evaluator
        self.stopper = EarlyStopping("val_score", patience=patience, mode="max", min_delta=min_delta)
        self.best_score = -math.inf
        self.best_sha256: str | None = None
        self.history: list[tuple[int, float]] = []
        self.eval_seconds = 0.0
        self.early_stopped = False
        self.best_equity: list[float] = []
        self.best_positions: list[int] = []
        self._scored_updates = 0  # weights no update has touched (fresh or warm-started) are never scored

    def _evaluate(self) -> bool:
        started = time.perf_counter()
        record = evaluate_model(self.model, self.val_env, self.evaluator)
        score = 100.0 * record.log_return
        self.eval_seconds += time.perf_counter() - started
        self._scored_updates = self.model._n_updates
        self.history.append((self.num_timesteps, score))
        if score > self.best_score:
            self.best_score = score
            self.best_sha256 = save_policy(self.model, self.best_model_path, NETWORK)
            # plain floats and ints: progress.pt must stay loadable with weights_only
            self.best_equity = [float(v) for v in record.equity]
            self.best_positions = [int(p) for p in record.positions]
        return self.stopper.should_stop(score)

    def _on_step(self) -> bool:
        if self.n_calls % max(self.eval_freq // self.training_env.num_envs, 1) != 0:
            return True
        if self.model._n_updates == self._scored_updates:
            return True
        if self._evaluate():
            self.early_stopped = self.stopper.patience > 0 and math.isfinite(self.history[-1][1])
            return False
        return True

    def _on_training_end(self) -> None:
        if self.model._n_updates != self._scored_updates:
            self._evaluate()
