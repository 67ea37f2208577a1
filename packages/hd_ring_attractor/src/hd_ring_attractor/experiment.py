"""The benchmark task: train on a perturbed ring from Zhang's analytic setting, report against it.

Every network starts at the analytic setting (g_av = 1, excitability 1) on a ring perturbed with
``heterogeneity`` (fixed by the seed), so the analytic network is both the starting point and the
reference training has to beat. A run trains for a fixed budget and hands back the weights with the
best validation loss, the start included.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import torch

from hd_ring_attractor.enhanced_training import AdamCosineTrainer
from hd_ring_attractor.evaluation import cue_only_error_deg, evaluate, speed_ratios
from hd_ring_attractor.models import NoiseModel, RingAttractorNetwork
from hd_ring_attractor.tasks import PathIntegrationTask, Trajectories, make_splits

__all__ = ["OPTIMIZERS", "SEARCH_SEED", "TaskSize", "analytic_network", "opponents", "report_on_test", "train_arm"]

# The ring and data of the learning-rate search: not one of the bench seeds, so no test ring is tuned on.
SEARCH_SEED = 1000
# Four optimizers, each with the same learning-rate search and training budget. "original" is the original
# project's trainer: hd_ring_attractor/src/training.py, train_model, Adam at a fixed rate; the SGD arms are
# extra rivals, not the original.
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "original": {"optimizer": "adam", "schedule": "constant"},
    "sgd": {"optimizer": "sgd", "schedule": "constant", "momentum": 0.0},
    "sgd_momentum": {"optimizer": "sgd", "schedule": "constant", "momentum": 0.9},
    "optimized": {"optimizer": "adam", "schedule": "cosine"},
}


@dataclass(frozen=True)
class TaskSize:
    """The network and data of one benchmark size."""

    n_exc: int
    n_inh: int
    dark_ms: float
    batch_size: int
    n_train: int
    n_val: int
    n_test: int
    heterogeneity: float
    hold_ms: float = 1000.0
    speed_ms: float = 1000.0
    speed_cues: int = 8
    tbptt_steps: int = 0
    noise_model: NoiseModel = "poisson"
    slow_fraction: float = 0.0

    def splits(self, seed: int) -> tuple[Trajectories, Trajectories, Trajectories]:
        return make_splits(
            PathIntegrationTask(dark_ms=self.dark_ms, slow_fraction=self.slow_fraction),
            self.n_train,
            self.n_val,
            self.n_test,
            seed,
        )


def analytic_network(
    size: TaskSize, seed: int, device: torch.device, heterogeneity: float | None = None, g_av: float = 1.0
) -> RingAttractorNetwork:
    """Zhang's hand-set network (g_av = 1 unless given) on the seed's perturbed ring."""
    h = size.heterogeneity if heterogeneity is None else heterogeneity
    return RingAttractorNetwork(
        size.n_exc,
        size.n_inh,
        g_av=g_av,
        heterogeneity=h,
        network_seed=seed,
        noise_model=size.noise_model,
        device=device,
    )


def train_arm(
    size: TaskSize,
    optimizer: dict[str, Any],
    learning_rate: float,
    epochs: int,
    seed: int,
    device: torch.device,
    heterogeneity: float | None = None,
) -> tuple[RingAttractorNetwork, AdamCosineTrainer]:
    """Train the seed's analytic network with one optimizer for ``epochs``; return the selected weights."""
    model = analytic_network(size, seed, device, heterogeneity)
    data = tuple(split.to(device) for split in size.splits(seed))
    with tempfile.TemporaryDirectory(prefix="hd_ring_bench_") as folder:
        config = {
            **optimizer,
            "learning_rate": learning_rate,
            "min_lr": learning_rate / 1000,
            "max_epochs": epochs,
            "batch_size": size.batch_size,
            "n_sequences": size.n_train,
            # Every arm starts at the analytic optimum, so the gains need no head start (no 10x rate).
            "scalar_lr_multiplier": 1.0,
            "matrix_lr_multiplier": 0.1,
            "early_stopping": False,
            "select_start": True,
            "train_excitability": True,
            "tbptt_steps": size.tbptt_steps,
            "seed": seed,
            "checkpoint_dir": folder,
            "device": str(device),
            "log_interval": 0,
        }
        trainer = AdamCosineTrainer(model, config, data=data)  # type: ignore[arg-type]
        trainer.train()
    return model, trainer


def report_on_test(model: RingAttractorNetwork, size: TaskSize, data: Trajectories) -> dict[str, Any]:
    """Test metrics, speed/omega and, on a perturbed ring, how well the learned correction matches it."""
    report: dict[str, Any] = evaluate(model, data, hold_ms=size.hold_ms)
    report["speed_over_omega"] = speed_ratios(model, duration_ms=size.speed_ms, n_cues=size.speed_cues)
    report["sigma_ee"] = model.sigma_ee.item()
    if model.heterogeneity > 0:
        pair = torch.stack([model.excitability.detach(), 1 / model.ee_row_factor.clamp_min(1e-3)])
        report["excitability_vs_ideal_correlation"] = float(torch.corrcoef(pair.cpu())[0, 1])
    return report


def opponents(size: TaskSize, seed: int, device: torch.device) -> dict[str, Any]:
    """Degenerate and analytic opponents on the seed's ring and test set."""
    test = size.splits(seed)[2].to(device)
    return {
        "analytic_zhang": report_on_test(analytic_network(size, seed, device), size, test),
        "untrained_no_velocity_coupling": report_on_test(analytic_network(size, seed, device, g_av=0.0), size, test),
        "cue_only": cue_only_error_deg(test.to("cpu")),
    }
