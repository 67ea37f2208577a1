"""The prefix branch: the standardised raw prefix read point by point beside the TCN (readouts.PrefixBranch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from early_inference.early_inference_model import EarlyInferenceModel, gaussian_nll_loss
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.readouts import PrefixBranch
from early_inference.train_early_inference import (
    CONFIG,
    ORIGINAL_CONFIG,
    load_trained_model,
    predict,
    prepare_split,
    train,
)

TINY_MODEL = {"channels": [4, 4], "kernel_size": 3, "mlp_hidden": [8], "head_hidden": 8}


def test_branch_standardises_its_inputs_and_refuses_another_length():
    branch = PrefixBranch(sequence_length=10, n_known=3, width=6)
    x, known = 5.0 + 2.0 * torch.randn(50, 1, 10), torch.randn(50, 3)
    branch.set_standardization(x, known)
    flat = (PrefixBranch.flat(x, known) - branch.prefix_mean) / branch.prefix_sd
    torch.testing.assert_close(flat.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.std(0), torch.ones(13), atol=1e-5, rtol=0)
    assert branch(x, known).shape == (50, 6)
    with pytest.raises(ValueError, match="10 time steps"):
        branch(torch.randn(2, 1, 11), torch.randn(2, 3))
    assert {"prefix_branches.0.prefix_mean", "prefix_branches.0.prefix_sd"} <= set(
        EarlyInferenceModel(3, 2, channels=[4], pooling="contrast", known_as_channels=True, sequence_length=10,
                            prefix_branch=6).state_dict()
    )  # fmt: skip


def test_each_parameter_has_its_own_branch_trained_only_by_its_own_loss():
    torch.manual_seed(0)
    model = EarlyInferenceModel(
        3, 2, channels=[4, 4], pooling="contrast", known_as_channels=True, per_parameter_heads=True,
        head_hidden=8, sequence_length=12, prefix_branch=5, branch_per_parameter=True,
    )  # fmt: skip
    x, known = torch.randn(7, 1, 12), torch.randn(7, 3)
    features = model.features(x, known)
    assert len(model.prefix_branches) == 2 and [f.shape for f in features] == [(7, model.pool.out_features + 5)] * 2
    mean, var = model(x, known)
    gaussian_nll_loss(mean[:, 1:], var[:, 1:], torch.randn(7, 1)).backward()  # k_d's loss alone
    for name, parameter in model.prefix_branches[1].named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.prefix_branches[0].parameters())
    shared = EarlyInferenceModel(
        3, 2, channels=[4], pooling="contrast", known_as_channels=True, per_parameter_heads=True,
        sequence_length=12, prefix_branch=5, branch_per_parameter=False,
    )  # fmt: skip
    assert len(shared.prefix_branches) == 1 and shared.features(x, known).shape == (7, shared.pool.out_features + 5)
    with pytest.raises(ValueError, match="sequence_length"):
        EarlyInferenceModel(3, 2, pooling="contrast", known_as_channels=True, prefix_branch=5)


def test_branch_learns_a_small_drift_on_top_of_a_large_shared_rise():
    """The k_d-like signal: a per-sample slope 100x smaller than a rise every sample shares."""
    generator = torch.Generator().manual_seed(0)
    s = torch.linspace(0, 1, 32)
    slope = torch.rand(1024, 1, generator=generator) * 2 - 1
    level = torch.rand(1024, 1, generator=generator) * 2 - 1
    x = (4.0 * (1 - torch.exp(-10 * s)) + 0.3 * level + 0.04 * slope * s).unsqueeze(1)
    known, target = torch.zeros(1024, 0), torch.cat([level, slope], dim=1) * 3**0.5
    torch.manual_seed(0)
    model = EarlyInferenceModel(
        0, 2, channels=[4], pooling="contrast", known_as_channels=True, per_parameter_heads=True,
        head_hidden=16, sequence_length=32, prefix_branch=16, branch_per_parameter=True,
    )  # fmt: skip
    for branch in model.prefix_branches:
        branch.set_standardization(x[:768], known[:768])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        batch = torch.randint(0, 768, (128,), generator=generator)
        loss = gaussian_nll_loss(*model(x[batch], known[batch]), target[batch], beta=0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        mean, _ = model(x[768:], known[768:])
    rmse = (mean - target[768:]).pow(2).mean(0).sqrt()
    assert rmse[1] < 0.3, rmse  # slope score (RMSE / prior sd); 1.0 = nothing learned


@pytest.fixture(scope="module")
def data():
    return generate_dataset(
        {"n_train": 96, "n_val": 48, "n_test": 32, "prefix_lengths": [30], "prefix_n_points": 24}, n_workers=1
    )


def test_branch_statistics_come_from_the_training_split_and_travel_in_the_checkpoint(data, tmp_path):
    config = {**CONFIG, "prefix_branch": 6, "batch_size": 32}
    result = train(data, 30, config, TINY_MODEL, seed=0, max_steps=3, run_dir=tmp_path)
    train_split = prepare_split(data, "train", 30, result.normalizer, config=config)
    flat = PrefixBranch.flat(train_split.x, train_split.known)
    for branch in result.model.prefix_branches:
        torch.testing.assert_close(branch.prefix_mean, flat.mean(0))
    model, identity = load_trained_model(sorted(tmp_path.glob("*.pt"))[-1])
    assert identity["model_kwargs"]["sequence_length"] == 24
    torch.testing.assert_close(model.prefix_branches[1].prefix_sd, flat.std(0).clamp_min(1e-6))
    test = prepare_split(data, "test", 30, identity["normalizer"], config=config)
    np.testing.assert_allclose(predict(model, test)[0], predict(result.model, test)[0], rtol=1e-6)


def test_original_config_has_no_branch():
    assert ORIGINAL_CONFIG["prefix_branch"] == 0 and not ORIGINAL_CONFIG["branch_per_parameter"]
