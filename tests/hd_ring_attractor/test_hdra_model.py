"""The network's dynamics, engines, constraints, noise and symmetry."""

from __future__ import annotations

import math

import pytest
import torch
from hd_ring_attractor import BOUNDS, PathIntegrationTask, RingAttractorNetwork, evaluate
from hd_ring_attractor.evaluation import speed_ratios
from hd_ring_attractor.models import poisson_counts
from hd_ring_attractor.speed import flop_bound
from hd_ring_attractor.utils import circular_difference, circular_error_deg, decode_heading


@pytest.fixture(scope="module")
def short_task():
    return PathIntegrationTask(dark_ms=200.0).sample(8, seed=5)


@pytest.mark.parametrize("n_exc, n_inh", [(64, 16), (256, 32)])  # 256 uses the FFT path
def test_batched_engine_matches_the_original_per_sample_engine(n_exc, n_inh, short_task):
    steps = 40
    omega, cue = short_task.angular_velocity[:4, :steps], short_task.cue_angle[:4]
    results = {}
    for engine in ("batched", "per_sample"):
        model = RingAttractorNetwork(n_exc, n_inh, g_av=1.0, engine=engine).eval()
        with torch.no_grad():
            results[engine] = model(omega, cue, cue_steps=25)
    assert results["batched"].shape == (4, steps, n_exc)
    assert results["batched"].abs().max() > 0.5  # a bump formed
    torch.testing.assert_close(results["batched"], results["per_sample"], atol=1e-4, rtol=1e-4)


def test_zhang_velocity_term_at_gain_one_moves_the_bump_with_the_heading(short_task):
    errors = {}
    for g_av in (0.0, 1.0):
        model = RingAttractorNetwork(64, 16, g_av=g_av).eval()
        with torch.no_grad():
            rates = model(short_task.angular_velocity, short_task.cue_angle, short_task.cue_steps)
        dark = slice(short_task.cue_steps, None)
        errors[g_av] = circular_error_deg(decode_heading(rates[:, dark]), short_task.heading[:, dark]).mean()
    assert errors[1.0] < 1.0
    assert errors[0.0] > 4 * errors[1.0]


def test_a_homogeneous_ring_holds_the_bump_where_a_heterogeneous_one_pins_it():
    cues = torch.linspace(0, 2 * math.pi, 17)[:-1]
    drifts = {}
    for heterogeneity in (0.0, 0.05):
        model = RingAttractorNetwork(64, 16, heterogeneity=heterogeneity).eval()
        with torch.no_grad():
            rates = model(torch.zeros(len(cues), 300), cues, cue_steps=50)
        drifts[heterogeneity] = torch.rad2deg(circular_difference(decode_heading(rates[:, -1]), cues).abs()).mean()
    assert drifts[0.0] < 0.5
    assert drifts[0.05] > 2.0


def test_heterogeneity_is_fixed_by_the_network_seed():
    first, again = (RingAttractorNetwork(64, 16, heterogeneity=0.1, network_seed=3) for _ in range(2))
    other = RingAttractorNetwork(64, 16, heterogeneity=0.1, network_seed=4)
    for name in ("ee_row_factor", "W_EI", "W_IE"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
        assert not torch.equal(getattr(first, name), getattr(other, name)), name
    spread = (first.W_IE * first.n_inh).std().item()
    assert 0.08 < spread < 0.12  # multiplicative noise of s.d. 0.1 around 1/N_I
    homogeneous = RingAttractorNetwork(64, 16, heterogeneity=0.0, network_seed=3)
    assert torch.all(homogeneous.ee_row_factor == 1) and torch.all(homogeneous.W_EI == 1 / 64)


def test_gaussian_noise_has_the_exact_poisson_draws_mean_and_variance():
    rate = torch.tensor(10.0)  # Hz; dt = 2 ms, so the counts have mean and variance 0.02
    draws = {}
    for noise_model in ("gaussian", "poisson"):
        model = RingAttractorNetwork(64, 16, noise_model=noise_model)
        torch.manual_seed(0)
        draws[noise_model] = model.standard_noise((400, 1000), rate, rate) * model.noise_scale(rate)
    expected_variance = float(rate) * 2.0 / 1000.0
    for noise_model, sample in draws.items():
        # 400k draws: the standard error of the mean is ~2e-4, of the variance ~2% (Poisson) or ~0.2%.
        assert abs(sample.mean().item()) < 1e-3, noise_model
        assert sample.var().item() == pytest.approx(expected_variance, rel=0.05), noise_model
    assert torch.all(draws["poisson"] >= -expected_variance - 1e-6)  # centred counts: never below -mean


def test_the_split_poisson_draw_has_the_law_of_torch_poisson_element_by_element():
    mean, shape = 0.02, (200, 2000)  # 400k cells, ~8000 events
    torch.manual_seed(1)
    split = poisson_counts(mean, shape, torch.empty(0))
    exact = torch.poisson(torch.full(shape, mean))
    assert split.shape == shape and torch.equal(split, split.round()) and split.min() >= 0
    for k in (0, 1, 2):  # frequencies against the pmf and against torch.poisson's own sample
        pmf = math.exp(-mean) * mean**k / math.factorial(k)
        tolerance = 4 * math.sqrt(pmf * (1 - pmf) / split.numel()) + 1e-6
        assert (split == k).double().mean().item() == pytest.approx(pmf, abs=tolerance), k
        assert (exact == k).double().mean().item() == pytest.approx(pmf, abs=tolerance), k
    assert split.mean().item() == pytest.approx(mean, rel=0.05) and split.var().item() == pytest.approx(mean, rel=0.05)
    # Events fall uniformly: no row or column of the block is favoured.
    assert split.sum(1).std().item() < 2 * math.sqrt(mean * shape[1])


@pytest.mark.parametrize("noise_model", ["gaussian", "poisson"])
def test_the_drive_noise_without_a_rate_gradient_has_the_scaled_draws_statistics(noise_model):
    model = RingAttractorNetwork(64, 16, noise_model=noise_model)
    rate = model.noise_rate_e
    with torch.no_grad():  # the one-pass path
        fast = model.drive_noise((400, 1000), rate, rate)
    slow = model.drive_noise((400, 1000), rate, rate)  # rate needs a gradient: draw times noise_scale
    assert not fast.requires_grad and slow.requires_grad
    for sample in (fast, slow.detach()):
        assert abs(sample.mean().item()) < 1e-3
        assert sample.var().item() == pytest.approx(0.02, rel=0.05)
    if noise_model == "poisson":  # counts minus their mean, on both paths
        assert torch.allclose(fast + 0.02, (fast + 0.02).round(), atol=1e-5)
        assert torch.allclose(slow.detach() + 0.02, (slow.detach() + 0.02).round(), atol=1e-5)


def test_noise_is_on_in_train_and_off_in_eval(short_task):
    model = RingAttractorNetwork(64, 16)
    args = (short_task.angular_velocity[:, :60], short_task.cue_angle, 50)
    with torch.no_grad():
        model.eval()
        first, second = model(*args), model(*args)
        model.train()
        noisy = model(*args)
    assert torch.equal(first, second)
    assert not torch.equal(first, noisy)


def test_the_noise_rates_receive_a_gradient(short_task):
    model = RingAttractorNetwork(64, 16).train()
    rates = model(short_task.angular_velocity[:, :80], short_task.cue_angle, 50)
    rates.square().mean().backward()
    for name in ("noise_rate_e", "noise_rate_i", "g_av", "sigma_ee", "g_input", "excitability"):
        grad = getattr(model, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_apply_constraints_clamps_every_bounded_parameter():
    model = RingAttractorNetwork(64, 16)
    with torch.no_grad():
        for name in BOUNDS:
            getattr(model, name).fill_(1e3)
        model.W_EI[0, 0] = -1e3
        model.W_IE[0, 0] = -1e3
    model.apply_constraints()
    for name, (low, high) in BOUNDS.items():
        values = getattr(model, name).detach()
        assert values.min() >= low and values.max() <= high, name
    assert (
        float(model.W_EI[0, 0].detach()) == -0.5
        and float(model.W_IE[0, 0].detach()) == 0.0  # inhibition stays inhibition
        and float(model.W_IE.detach().max()) == 0.5
        and float(model.sigma_ee.detach()) == pytest.approx(math.pi / 2)
    )


def test_speed_ratio_is_one_with_zhangs_gain_and_zero_without_velocity_coupling():
    ratios = {g_av: speed_ratios(RingAttractorNetwork(64, 16, g_av=g_av), (90.0,), 300.0, 4) for g_av in (0.0, 1.0)}
    assert ratios[1.0]["90"] == pytest.approx(1.0, abs=0.05)
    assert abs(ratios[0.0]["90"]) < 0.05


def test_forward_rejects_mismatched_shapes():
    model = RingAttractorNetwork(64, 16)
    with pytest.raises(ValueError, match="angular_velocity"):
        model(torch.zeros(4, 10), torch.zeros(3))
    with pytest.raises(ValueError, match="n_exc"):
        RingAttractorNetwork(4, 1)
    with pytest.raises(ValueError, match="heterogeneity"):
        RingAttractorNetwork(64, 16, heterogeneity=-0.1)
    with pytest.raises(ValueError, match="noise_model"):
        RingAttractorNetwork(64, 16, noise_model="uniform")


def test_a_trial_simulated_in_pieces_equals_the_whole_trial(short_task):
    model = RingAttractorNetwork(64, 16, g_av=1.0, heterogeneity=0.05).eval()
    omega, cue = short_task.angular_velocity[:, :90], short_task.cue_angle
    with torch.no_grad():
        whole = model(omega, cue, 50)
        first, state = model(omega[:, :60], cue, 50, return_state=True)
        second = model(omega[:, 60:], cue, 0, state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


def test_flop_bound_counts_the_two_products_and_the_ffts():
    bound = flop_bound(800, 200, 32, repeats=2)
    assert bound["matmul_mflop_per_step"] == pytest.approx(4 * 32 * 800 * 200 / 1e6)
    assert 1.0 < bound["fft_mflop_per_step"] < 3.0  # three real transforms of 800 points for 32 trials
    assert bound["bound_ms_per_step"] > 0 and bound["matmul_gflops_measured"] > 0


def test_drift_is_measured_on_the_same_noise_for_every_network_and_leaves_the_callers_stream(short_task):
    model = RingAttractorNetwork(64, 16, g_av=1.0)
    torch.manual_seed(0)
    first = evaluate(model, short_task, hold_ms=100.0)["drift_deg_per_s"]
    after_first = torch.rand(1)
    torch.manual_seed(0)
    torch.rand(3)  # a different caller stream must not change the drift
    second = evaluate(model, short_task, hold_ms=100.0)["drift_deg_per_s"]
    torch.manual_seed(0)
    evaluate(model, short_task, hold_ms=100.0)
    assert first == second and first > 0
    assert torch.equal(torch.rand(1), after_first)
