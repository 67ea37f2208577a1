"""The v2 model: contrast readout, known inputs as channels, per-parameter heads, beta-NLL, step budget,
selection on the per-parameter NLL sum, and the variance scale that travels in the checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from early_inference.early_inference_model import EarlyInferenceModel, gaussian_nll_loss
from early_inference.generate_early_inference_data import generate_dataset
from early_inference.readouts import ContrastReadout, MultiHeadTemporalPooling
from early_inference.train_early_inference import (
    CONFIG,
    ORIGINAL_CONFIG,
    load_trained_model,
    predict,
    prepare_split,
    train,
    validation_variance_scale,
)

from trainkit import CheckpointError, load_checkpoint

TINY_MODEL = {"channels": [4, 4], "kernel_size": 3, "mlp_hidden": [8], "head_hidden": 8}


@pytest.fixture(scope="module")
def data():
    return generate_dataset(
        {"n_train": 96, "n_val": 48, "n_test": 32, "prefix_lengths": [30], "prefix_n_points": 24}, n_workers=1
    )


def test_multihead_pooling_starts_at_its_priors_from_early_to_late():
    pool = MultiHeadTemporalPooling(channels=8, decays=(3.0, 1.0, -1.0, -3.0))
    torch.testing.assert_close(pool.score_out.weight, torch.zeros_like(pool.score_out.weight))
    torch.testing.assert_close(pool.score_out.bias, torch.zeros_like(pool.score_out.bias))
    h = torch.randn(5, 8, 40)
    weights = pool.weights(h)
    steps = torch.linspace(0, 1, 40)
    for k, decay in enumerate((3.0, 1.0, -1.0, -3.0)):
        torch.testing.assert_close(weights[:, k], torch.softmax(-decay * steps, 0).expand(5, -1))
    centres = (weights * steps).sum(-1).mean(0)
    assert torch.all(torch.diff(centres) > 0)  # heads ordered from early to late
    assert pool(h).shape == (5, 4 * 8)


def test_contrast_readout_shape_moment_and_last_step():
    readout = ContrastReadout(channels=6)
    h = torch.randn(3, 6, 20)
    out = readout(h)
    assert out.shape == (3, readout.out_features) == (3, 6 * 6)
    torch.testing.assert_close(out[:, -6:], h[..., -1])
    # The moment is zero for a constant feature, positive for a rise, negative for a decay.
    flat = torch.ones(1, 1, 21)
    rise = torch.linspace(0, 1, 21).view(1, 1, -1)
    assert ContrastReadout.time_moment(flat).abs().item() < 1e-6
    assert ContrastReadout.time_moment(rise).item() > 0 > ContrastReadout.time_moment(rise.flip(-1)).item()


def test_v2_model_takes_known_inputs_as_constant_channels_at_every_step():
    torch.manual_seed(0)
    model = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 8], pooling="contrast", known_as_channels=True)
    assert model.in_channels == 4 and len(model.known_mlp) == 0
    x, known = torch.randn(2, 1, 30), torch.randn(2, 3)
    other = known.clone()
    other[:, 2] += 1.0
    # The first step already depends on the known inputs (before any pooling).
    assert not torch.allclose(model.encode(x, known)[..., 0], model.encode(x, other)[..., 0])
    mean, var = model(x, known)
    assert mean.shape == var.shape == (2, 2) and torch.all(var > 0)


def test_per_parameter_heads_are_separate_networks():
    torch.manual_seed(0)
    model = EarlyInferenceModel(n_known=0, n_params=2, channels=[4], pooling="contrast", per_parameter_heads=True)
    mean, _var = model(torch.randn(4, 3, 20), torch.zeros(4, 0))
    mean[:, 0].sum().backward()
    assert model.heads.mean_heads[1][0].weight.grad is None or not model.heads.mean_heads[1][0].weight.grad.any()
    assert model.heads.mean_heads[0][0].weight.grad.abs().sum() > 0
    assert len(model.heads.mean_heads) == len(model.heads.var_heads) == 2


def test_beta_nll_weighs_each_element_by_its_detached_variance():
    mean = torch.tensor([[0.0, 0.0]], requires_grad=True)
    var = torch.tensor([[0.01, 1.0]], requires_grad=True)
    target = torch.tensor([[0.1, 0.1]])
    plain = torch.autograd.grad(gaussian_nll_loss(mean, var, target), mean)[0]
    beta = torch.autograd.grad(gaussian_nll_loss(mean, var, target, beta=0.5), mean)[0]
    # Plain NLL: d/dmean = -(y - mean) / var / 2 elements -> the small-variance parameter dominates 100:1.
    assert (plain[0, 0] / plain[0, 1]).item() == pytest.approx(100.0)
    # beta = 0.5 multiplies by var**0.5: 10:1. beta = 1 would make the ratio 1 (an MSE-like gradient).
    assert (beta[0, 0] / beta[0, 1]).item() == pytest.approx(10.0)
    one = torch.autograd.grad(gaussian_nll_loss(mean, var, target, beta=1.0), mean)[0]
    assert (one[0, 0] / one[0, 1]).item() == pytest.approx(1.0)
    # The value at beta = 0 is the plain NLL.
    assert gaussian_nll_loss(mean, var, target, beta=0.0).item() == pytest.approx(
        float(np.mean(0.5 * (math.log(2 * math.pi) + np.log([0.01, 1.0]) + np.array([0.01, 0.01]) / [0.01, 1.0])))
    )


def test_step_budget_is_exact_and_cosine_ends_at_its_floor(data):
    config = {**CONFIG, "batch_size": 32, "warmup_epochs": 1, "scheduler_min_lr": 1e-5}
    result = train(data, 30, config, TINY_MODEL, seed=0, max_steps=7)  # 3 steps per epoch: 3 + 3 + 1
    assert result.optimizer_steps == 7 and [r["optimizer_steps"] for r in result.history] == [3, 6, 7]
    assert result.history[-1]["samples_seen"] == 32 * 7
    assert result.history[0]["lr"] == pytest.approx(config["lr"] / 3)  # warmup: 1/3 of the rate at step 1
    assert "budget of 7" in result.stop_reason


def test_selection_uses_the_sum_of_per_parameter_validation_nlls(data):
    result = train(data, 30, {**CONFIG, "batch_size": 32, "lr": 3e-2}, TINY_MODEL, seed=1, max_epochs=6)
    sums = [r["val_nll_sum"] for r in result.history]
    for row in result.history:
        assert row["val_nll_sum"] == pytest.approx(row["val_nll_E0_g_per_L"] + row["val_nll_k_d_per_s"])
    assert result.best_val_nll == pytest.approx(min(sums) / 2)
    val = prepare_split(data, "val", 30, result.normalizer, config=CONFIG)
    mean, var = predict(result.model, val, raw=True)
    nll = 0.5 * (math.log(2 * math.pi) + np.log(var) + (val.target.numpy() - mean) ** 2 / var)
    assert nll.mean(0).sum() == pytest.approx(min(sums), rel=1e-5)  # the returned model is the selected epoch


def test_variance_scale_is_fitted_on_val_stored_and_applied_after_load(data, tmp_path):
    result = train(data, 30, {**CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_epochs=2, run_dir=tmp_path)
    scale = validation_variance_scale(result.model, data, 30, result.normalizer, config=CONFIG)
    np.testing.assert_allclose(result.variance_scale, scale, rtol=1e-6)
    assert not np.allclose(scale, 1.0)
    model, identity = load_trained_model(sorted(tmp_path.glob("*.pt"))[-1])
    np.testing.assert_allclose(model.variance_scale.numpy(), scale, rtol=1e-6)
    np.testing.assert_allclose(identity["fitted_variance_scale"], scale, rtol=1e-6)
    test = prepare_split(data, "test", 30, identity["normalizer"], config=CONFIG)
    mean, var = predict(model, test)
    raw_mean, raw_var = predict(model, test, raw=True)
    np.testing.assert_allclose(mean, raw_mean)
    np.testing.assert_allclose(var, raw_var * scale, rtol=1e-5)


def test_original_config_records_the_scale_but_does_not_apply_it(data):
    result = train(data, 30, {**ORIGINAL_CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_epochs=2)
    torch.testing.assert_close(result.model.variance_scale, torch.ones(2))
    assert not np.allclose(result.variance_scale, 1.0)


def test_prefix_points_average_the_prefix_into_bins(data):
    full = prepare_split(data, "val", 30, (np.zeros(3), np.ones(3)), config=CONFIG)
    half = prepare_split(data, "val", 30, (np.zeros(3), np.ones(3)), config={**CONFIG, "prefix_points": 12})
    assert full.x.shape[1:] == (1, 24) and half.x.shape[1:] == (1, 12)
    torch.testing.assert_close(half.x[:, 0], full.x[:, 0].view(-1, 12, 2).mean(-1))
    result = train(data, 30, {**CONFIG, "batch_size": 32, "prefix_points": 12}, TINY_MODEL, seed=0, max_steps=2)
    assert result.optimizer_steps == 2


def test_checkpoint_round_trip_is_weights_only_and_refuses_pickled_code(data, tmp_path):
    train(data, 30, {**CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_steps=3, run_dir=tmp_path / "run")
    state = load_checkpoint(sorted((tmp_path / "run").glob("*.pt"))[-1])  # torch.load(weights_only=True)
    assert state["identity"]["config"] == CONFIG | {"batch_size": 32}
    assert "variance_scale" in state["best_model"]

    class Payload:
        def __reduce__(self):
            return (print, ("payload ran",))

    planted = tmp_path / "planted"
    planted.mkdir()
    torch.save({"identity": Payload()}, planted / "epoch000001.pt")
    with pytest.raises(CheckpointError):
        load_trained_model(planted / "epoch000001.pt")
    with pytest.raises(CheckpointError):
        train(data, 30, {**CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_steps=3, run_dir=planted)


def test_a_checkpoint_from_another_package_is_refused(tmp_path):
    from trainkit import save_checkpoint

    path = save_checkpoint(tmp_path / "epoch000001.pt", {"identity": {}}, package="ppo_trading", kind="policy")
    with pytest.raises(CheckpointError, match="ppo_trading"):
        load_trained_model(path)


def test_original_config_keeps_every_seed_setting():
    """ORIGINAL_CONFIG differs from CONFIG only by copying it; none of the v2 changes may leak into it."""
    assert ORIGINAL_CONFIG["pooling"] == "avg" and ORIGINAL_CONFIG["prefix_points"] is None
    assert not ORIGINAL_CONFIG["known_as_channels"] and not ORIGINAL_CONFIG["per_parameter_heads"]
    assert ORIGINAL_CONFIG["beta_nll"] == 0.0 and ORIGINAL_CONFIG["schedule"] == "plateau"
    assert not ORIGINAL_CONFIG["apply_variance_scale"]


def test_our_kind_of_checkpoint_with_missing_or_mistyped_keys_is_one_line(data, tmp_path):
    from trainkit import save_checkpoint

    path = save_checkpoint(
        tmp_path / "epoch000001.pt", {"identity": {}}, package="early_inference", kind="posterior_model"
    )
    with pytest.raises(CheckpointError, match="best_model"):
        load_trained_model(path)
    run_dir = tmp_path / "run"
    train(data, 30, {**CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_steps=3, run_dir=run_dir)
    state = load_checkpoint(sorted(run_dir.glob("epoch*.pt"))[-1])
    state["steps"] = "three"
    save_checkpoint(sorted(run_dir.glob("epoch*.pt"))[-1], state, package="early_inference", kind="posterior_model")
    with pytest.raises(CheckpointError, match="steps"):
        train(data, 30, {**CONFIG, "batch_size": 32}, TINY_MODEL, seed=0, max_steps=3, run_dir=run_dir)


def test_the_full_prefix_variant_undoes_only_the_averaging_and_the_screened_settings_are_cited():
    from early_inference import bench

    full, _ = bench.VARIANTS["optimized_full_prefix"]
    assert CONFIG["prefix_points"] == 25 and full["prefix_points"] is None
    assert {key for key in CONFIG if CONFIG[key] != full[key]} == {"prefix_points"}
    cited = bench._hyperparameters(CONFIG, "new")
    for key in ("lr", "prefix_points"):
        assert cited[key].value == CONFIG[key] and "readout_check" in cited[key].citation
    assert "readout_check" not in bench._hyperparameters(ORIGINAL_CONFIG, "old")["lr"].citation


def test_the_mlp_screen_trains_the_benchs_mlp_at_each_learning_rate(tmp_path):
    from early_inference import peer_runs, readout_check
    from early_inference.evaluate import mlp_on_prefix
    from early_inference.generate_early_inference_data import save_dataset

    data = generate_dataset({"n_train": 48, "n_val": 24, "n_test": 8, "prefix_lengths": [30]}, n_workers=1)
    path = save_dataset(data, tmp_path / "tiny.npz")
    cells = {
        method: readout_check.check(str(path), method, 30.0, 3, 0)
        for method in ("mlp_bench_lr1e-3", "mlp_bench_lr8e-3")
    }
    assert all(cell["steps"] == 3 and cell["n"] == 24 for cell in cells.values())
    assert cells["mlp_bench_lr1e-3"]["e0_mae"] != cells["mlp_bench_lr8e-3"]["e0_mae"]  # the rate reached the MLP
    # the bench's MLP (peer_runs: CONFIG's inputs, the default rate) is the screen's lr-1e-3 entry
    train_in, train_y = peer_runs._flat(data, "train", 30.0, CONFIG)
    val_in, val_y = peer_runs._flat(data, "val", 30.0, CONFIG)
    bench_mlp = mlp_on_prefix(train_in, train_y, val_in, val_y, val_in, seed=0, max_steps=3, batch_size=256)
    screened = readout_check._predict(data, "mlp_bench_lr1e-3", 30.0, 3, 0)
    np.testing.assert_array_equal(screened.mean, bench_mlp.prediction.mean)
