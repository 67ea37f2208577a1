"""sbi's NPE as a peer: trained on the same training set, sampled without rejection, masked to the prior.

Optional: ``pip install 'early_inference[peers]'`` (sbi 0.27, pinned in constraints.txt). Without it the
bench's column says "not installed" and how to install it.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from early_inference.evaluate import GaussianPrediction

__all__ = ["INSTALL_HINT", "NPEResult", "npe_available", "train_npe"]

INSTALL_HINT = "not installed: pip install -c constraints.txt -e 'packages/early_inference[peers]' (sbi 0.27)"


def npe_available() -> bool:
    return importlib.util.find_spec("sbi") is not None


@dataclass
class NPEResult:
    prediction: GaussianPrediction  # sample mean and variance in target space, inference s/sample
    samples: np.ndarray  # (n_samples, n, params) posterior draws in target space
    train_seconds: float
    epochs: int


def _sample_masked(posterior, x: torch.Tensor, n_samples: int, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Draws from the flow without sbi's rejection loop (it did not finish in 15 minutes in issue 15's
    prototype), with draws outside the prior's box replaced by in-box draws of the same sample."""
    with warnings.catch_warnings():  # sbi warns about draws outside the prior: they are masked below
        warnings.simplefilter("ignore", UserWarning)
        draws = posterior.sample((n_samples,), x=x, reject_outside_prior=False, show_progress_bars=False)
    inside = ((draws >= low) & (draws <= high)).all(-1)
    if inside.all() or not inside.any():
        return draws.clamp(low, high)
    keep = draws[inside]
    return torch.cat([keep, keep[torch.randint(len(keep), (n_samples - len(keep),))]])


def train_npe(
    train_x: np.ndarray,
    train_theta: np.ndarray,
    test_x: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    seed: int,
    n_samples: int = 500,
    max_epochs: int = 2**31 - 1,
) -> NPEResult:
    """NPE (sbi's default MAF, default training) on ``train_x -> train_theta`` (target space)."""
    from sbi.inference import NPE_C
    from sbi.utils import BoxUniform
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(seed)
    low, high = (torch.as_tensor(b, dtype=torch.float32) for b in bounds)
    # sbi logs to ./sbi-logs unless given a writer: keep its logs out of the user's working directory.
    with tempfile.TemporaryDirectory(prefix="sbi-logs-") as logs:
        writer = SummaryWriter(log_dir=logs)
        inference = NPE_C(prior=BoxUniform(low, high), summary_writer=writer, show_progress_bars=False)
        started = time.perf_counter()
        inference.append_simulations(
            torch.as_tensor(train_theta, dtype=torch.float32), torch.as_tensor(train_x, dtype=torch.float32)
        )
        estimator = inference.train(max_num_epochs=max_epochs, show_train_summary=False)
        train_seconds = time.perf_counter() - started
        writer.close()
    posterior = inference.build_posterior(estimator)
    tic = time.perf_counter()
    with torch.no_grad():
        samples = torch.stack(
            [
                _sample_masked(posterior, torch.as_tensor(row, dtype=torch.float32), n_samples, low, high)
                for row in test_x
            ]
        )
    seconds = (time.perf_counter() - tic) / max(len(test_x), 1)
    samples_np = samples.permute(1, 0, 2).detach().double().numpy()
    prediction = GaussianPrediction(samples_np.mean(0), samples_np.var(0) + 1e-12, seconds)
    epochs = int(inference._summary.get("epochs_trained", [0])[-1]) if hasattr(inference, "_summary") else 0
    return NPEResult(prediction, samples_np, train_seconds, epochs)
