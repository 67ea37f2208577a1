"""The network: causality, the weighted pooling's decay init and that it learns, the Gaussian NLL."""

from __future__ import annotations

import math

import pytest
import torch
from early_inference.early_inference_model import EarlyInferenceModel, gaussian_nll_loss, time_channels
from early_inference.readouts import FlattenTemporalReadout, WeightedTemporalPooling


def test_tcn_is_causal():
    torch.manual_seed(0)
    model = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 8, 8], pooling="avg")
    x = torch.randn(2, 3, 50)
    changed = x.clone()
    changed[:, 0, 30:] += 5.0
    known = torch.randn(2, 3)
    before, after = model.encode(x, known), model.encode(changed, known)
    torch.testing.assert_close(before[..., :30], after[..., :30])
    assert not torch.allclose(before[..., 30:], after[..., 30:])


def test_channels_last_conv2d_path_equals_plain_causal_conv1d():
    """The fast forward path is the same arithmetic as padded nn.Conv1d layers (gradients included)."""
    torch.manual_seed(0)
    model = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 6, 6], pooling="avg")
    x = torch.randn(4, 3, 50)

    def reference(x):
        for block in model.tcn:
            out = torch.relu(block.conv1(torch.nn.functional.pad(x, (block.left_pad, 0))))
            out = torch.relu(block.conv2(torch.nn.functional.pad(out, (block.left_pad, 0))))
            x = torch.relu(out + block.residual(x))
        return x

    fast, slow = model.encode(x, torch.randn(4, 3)), reference(x)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    weight = model.tcn[1].conv2.weight
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), weight)
    (grad_slow,) = torch.autograd.grad(slow.square().sum(), weight)
    torch.testing.assert_close(grad_fast, grad_slow, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["avg", "weighted", "flatten", "contrast"])
def test_outputs_have_positive_variance_and_work_without_known_inputs(pooling):
    for n_known in (0, 3):
        model = EarlyInferenceModel(n_known=n_known, n_params=2, channels=[8, 8], pooling=pooling, sequence_length=40)
        mean, var = model(torch.randn(5, 3, 40), torch.randn(5, n_known))
        assert mean.shape == var.shape == (5, 2)
        assert torch.all(var > 0)


def test_weighted_pooling_starts_as_a_decay_toward_early_points():
    pool = WeightedTemporalPooling(channels=8, decay=2.0)
    weights = pool.weights(torch.randn(4, 8, 60))
    expected = torch.softmax(-2.0 * torch.linspace(0, 1, 60), dim=0)
    torch.testing.assert_close(weights, expected.expand(4, -1))
    assert torch.all(torch.diff(weights, dim=-1) < 0)


def test_weighted_pooling_learns_to_move_its_attention():
    torch.manual_seed(0)
    pool = WeightedTemporalPooling(channels=4)
    # The target is the last time step's value; a position feature lets attention find it.
    h = torch.randn(64, 4, 30)
    h[:, 0] = torch.linspace(-3, 3, 30)
    target = h[:, 1, -1]
    optimizer = torch.optim.Adam(pool.parameters(), lr=0.1)
    initial_last = pool.weights(h)[:, -1].mean().item()
    losses = []
    for _ in range(100):
        loss = ((pool(h)[:, 1] - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    trained = pool.weights(h)
    assert losses[-1] < 0.9 * losses[0]
    assert trained[:, -1].mean().item() > 3 * initial_last
    assert trained[:, -1].mean().item() > trained[:, 0].mean().item()


def test_gaussian_nll_matches_torch_full_gaussian_nll():
    torch.manual_seed(0)
    mean, target = torch.randn(32, 2), torch.randn(32, 2)
    var = torch.rand(32, 2) + 0.05
    reference = torch.nn.GaussianNLLLoss(full=True, eps=1e-12)(mean, target, var)
    torch.testing.assert_close(gaussian_nll_loss(mean, var, target), reference)
    penalised = gaussian_nll_loss(mean, var, target, var_reg=0.5, var_target=0.1)
    torch.testing.assert_close(penalised - reference, 0.5 * ((var - 0.1) ** 2).mean())
    assert gaussian_nll_loss(torch.zeros(1), torch.ones(1), torch.zeros(1)).item() == pytest.approx(
        0.5 * math.log(2 * math.pi)
    )


def test_small_variances_still_get_gradient():
    """The original clamped log-variance at -4.6, which zeroes the gradient below the floor."""
    raw = torch.tensor([-12.0], requires_grad=True)  # softplus(-12) ~ 6e-6, far below 0.01
    var = torch.nn.functional.softplus(raw) + 1e-6
    gaussian_nll_loss(torch.zeros(1), var, torch.tensor([0.01])).backward()
    assert raw.grad is not None and raw.grad.abs().item() > 1e-3


def test_time_channels_are_standardised():
    channels = time_channels(torch.linspace(0, 30, 100))
    assert channels.shape == (2, 100)
    assert channels[0].mean().abs() < 1e-5 and channels[0].std().item() == pytest.approx(1.0, rel=1e-4)
    torch.testing.assert_close(channels[1], torch.full((100,), channels[0][1] - channels[0][0]))


def test_flatten_readout_sees_positions_where_avg_pooling_does_not():
    torch.manual_seed(0)
    h = torch.randn(3, 8, 20)
    reversed_in_time = h.flip(-1)
    readout = FlattenTemporalReadout(channels=8, sequence_length=20, out_features=8)
    assert readout(h).shape == (3, 8)
    assert not torch.allclose(readout(h), readout(reversed_in_time))
    avg = torch.nn.AdaptiveAvgPool1d(1)
    torch.testing.assert_close(avg(h), avg(reversed_in_time))


def test_flatten_model_differs_from_avg_and_checks_its_length():
    torch.manual_seed(0)
    flat = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 8], pooling="flatten", sequence_length=30)
    avg = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 8], pooling="avg")
    avg.load_state_dict({k: v for k, v in flat.state_dict().items() if not k.startswith("pool.")}, strict=True)
    x, known = torch.randn(4, 3, 30), torch.randn(4, 3)
    torch.testing.assert_close(flat.encode(x, known), avg.encode(x, known))  # same TCN weights ...
    assert not torch.allclose(flat(x, known)[0], avg(x, known)[0])  # ... different readout
    with pytest.raises(ValueError, match="sequence_length"):
        EarlyInferenceModel(n_known=3, n_params=2, pooling="flatten")
    with pytest.raises(ValueError, match="30 time steps"):
        flat(torch.randn(4, 3, 31), known)


def test_flatten_model_trains_on_a_tiny_batch():
    torch.manual_seed(0)
    model = EarlyInferenceModel(n_known=3, n_params=2, channels=[8, 8], pooling="flatten", sequence_length=30)
    x, known = torch.randn(32, 3, 30), torch.randn(32, 3)
    target = torch.stack([x[:, 0, -1] - x[:, 0, 0], known[:, 0]], dim=1)  # needs positions
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = gaussian_nll_loss(*model(x, known), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
