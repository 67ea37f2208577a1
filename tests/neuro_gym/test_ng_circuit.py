"""Neuron, plasticity and circuit: dynamics, STDP signs, schedules that change behaviour, save/load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from neuro_gym import (
    OPTIMIZED_SCHEDULE,
    Circuit,
    LIFParams,
    NeuroGym,
    PlasticitySchedule,
    STDPParams,
    circuit_config_for,
    xor_task,
)
from neuro_gym.neuron import SynapsePlasticity, ThresholdHomeostasis, lif_step, stdp_drive

from trainkit import CheckpointError, ConfigError


def test_lif_spikes_resets_and_raises_its_threshold():
    params = LIFParams(tau_m=10.0, tau_theta=50.0, theta_increment=0.2)
    v, theta = torch.zeros(1, 2), torch.zeros(1, 2)
    v, theta, spikes, before = lif_step(v, theta, torch.tensor([[1.2, 0.5]]), 1.0, params)
    assert spikes.tolist() == [[1.0, 0.0]]
    assert v[0, 0] == 0.0 and v[0, 1] == pytest.approx(0.5)
    assert before[0, 0] == pytest.approx(1.2)
    assert theta[0, 0] == pytest.approx(0.2) and theta[0, 1] == 0.0
    # The same drive no longer crosses the raised threshold.
    _, _, spikes, _ = lif_step(torch.zeros(1, 2), theta, torch.tensor([[1.1, 0.0]]), 1.0, params)
    assert spikes[0, 0] == 0.0


def test_winner_take_all_lets_one_neuron_fire_and_resets_the_layer():
    v, _, spikes, _ = lif_step(
        torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([[1.5, 2.0, 1.2], [0.1, 0.2, 0.3]]), 1.0, LIFParams(), True
    )
    assert spikes.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert v[0].abs().sum() == 0.0 and v[1].abs().sum() > 0.0


def test_stdp_potentiates_missing_teacher_spikes_and_depresses_wrong_ones():
    params = STDPParams(a_plus=0.1, a_minus=0.0)
    pre_trace = torch.tensor([[1.0, 0.0]])
    zeros = torch.zeros(1, 2)
    missing = stdp_drive(pre_trace, zeros, zeros, torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), params)
    wrong = stdp_drive(pre_trace, zeros, zeros, torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]), params)
    matched = stdp_drive(pre_trace, zeros, zeros, torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), params)
    assert missing[0, 0] > 0 and missing[1].abs().sum() == 0
    assert wrong[1, 0] < 0 and wrong[0, 0] > 0
    assert matched.abs().sum() == 0  # learning stops once the output fires as the teacher wants
    # Post-before-pre pairs depress.
    ltd = stdp_drive(zeros, torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), zeros, zeros, STDPParams())
    assert ltd[0, 0] < 0


def test_soft_bounds_keep_weights_inside_and_slow_down_near_them():
    weights = torch.tensor([[0.0, 0.5, 0.99]])
    plasticity = SynapsePlasticity(weights, STDPParams(), OPTIMIZED_SCHEDULE)
    plasticity.apply(weights, torch.full((1, 3), 0.5))
    assert weights.max() <= 1.0
    assert weights[0, 0] - 0.0 > weights[0, 2] - 0.99  # far from the bound moves more


def _trained_xor(schedule: PlasticitySchedule, epochs: int = 40, seed: int = 3) -> Circuit:
    task = xor_task()
    circuit = Circuit(circuit_config_for(task, 3), schedule, seed=seed)
    gym = NeuroGym(circuit, task, num_time_steps=3, seed=seed)
    for _ in range(epochs):
        gym.train_epoch()
    return circuit


def test_homeostasis_every_changes_the_hidden_thresholds():
    rare = _trained_xor(OPTIMIZED_SCHEDULE)
    often = _trained_xor(dataclasses.replace(OPTIMIZED_SCHEDULE, homeostasis_every=1))
    assert torch.equal(rare.homeostasis.scale, torch.ones_like(rare.homeostasis.scale))  # 120 steps < 500
    assert not torch.allclose(often.homeostasis.scale, rare.homeostasis.scale)
    assert not torch.allclose(often.output_weights, rare.output_weights)  # and the readout learns differently


def test_lr_decay_every_changes_the_learning_rate_and_the_weights():
    slow = _trained_xor(dataclasses.replace(OPTIMIZED_SCHEDULE, lr_decay_every=200), epochs=60)
    fast = _trained_xor(dataclasses.replace(OPTIMIZED_SCHEDULE, lr_decay_every=100), epochs=60)
    assert slow.plasticity.lr_factor != fast.plasticity.lr_factor
    assert not torch.allclose(slow.output_weights, fast.output_weights)


def test_consolidate_every_changes_importance_and_the_weights():
    rare = _trained_xor(dataclasses.replace(OPTIMIZED_SCHEDULE, consolidate_every=100))
    often = _trained_xor(dataclasses.replace(OPTIMIZED_SCHEDULE, consolidate_every=1))
    assert not torch.allclose(rare.plasticity.importance, often.plasticity.importance)
    assert not torch.allclose(rare.output_weights, often.output_weights)


def test_history_window_changes_homeostasis():
    def scale_after(window: int) -> torch.Tensor:
        schedule = PlasticitySchedule(
            homeostasis_every=50, lr_decay_every=200, history_window=window, consolidate_every=1
        )
        homeostasis = ThresholdHomeostasis(2, target_rate=0.2, schedule=schedule)
        for step in range(1200):
            homeostasis.record(torch.tensor([1.0 if step < 600 else 0.0, 0.1]))
        return homeostasis.scale

    assert not torch.allclose(scale_after(500), scale_after(1000))


def test_homeostatic_scale_is_used_by_the_circuit():
    task = xor_task()
    circuit = _trained_xor(OPTIMIZED_SCHEDULE)
    gym = NeuroGym(circuit, task)
    before = circuit.run(gym.eval_inputs, gym.decision_steps).hidden_rate
    circuit.homeostasis.scale.fill_(2.0)
    after = circuit.run(gym.eval_inputs, gym.decision_steps).hidden_rate
    assert after.sum() < before.sum()


def test_save_load_roundtrip_and_corrupt_file(tmp_path):
    circuit = _trained_xor(OPTIMIZED_SCHEDULE, epochs=10)
    path = circuit.save(tmp_path / "brain.pt")
    loaded = Circuit.load(path)
    assert torch.equal(loaded.output_weights, circuit.output_weights)
    assert torch.equal(loaded.input_weights, circuit.input_weights)
    assert loaded.plasticity.updates == circuit.plasticity.updates
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        Circuit.load(bad)


def test_same_seed_same_brain_and_bad_config():
    a, b = _trained_xor(OPTIMIZED_SCHEDULE, epochs=10), _trained_xor(OPTIMIZED_SCHEDULE, epochs=10)
    assert torch.equal(a.output_weights, b.output_weights)
    with pytest.raises(ConfigError):
        PlasticitySchedule(homeostasis_every=0, lr_decay_every=1, history_window=1, consolidate_every=1)


def test_homeostasis_records_batches_as_one_step_at_a_time_in_float32():
    # Window 8, rescaling every 3 steps: batches of 1-8 steps wrap the ring buffer and hit due steps.
    schedule = PlasticitySchedule(homeostasis_every=3, lr_decay_every=1, history_window=8, consolidate_every=1)
    rates = torch.rand(61, 5, generator=torch.Generator().manual_seed(0)) * 0.4
    batched = ThresholdHomeostasis(5, target_rate=0.2, schedule=schedule)
    start = 0
    for size in [1, 8, 3, 5, 2, 7, 4, 6, 1, 8, 3, 5, 2, 6]:
        batched.record_many(rates[start : start + size])
        start += size
    assert start == len(rates)
    # Reference: one step at a time, float32 numpy arithmetic, no torch.
    history, window_sum = np.zeros((8, 5), np.float32), np.zeros(5, np.float32)
    scale = np.ones(5, np.float32)
    for step, row in enumerate(rates.numpy()):
        window_sum = window_sum + (row - history[step % 8])
        history[step % 8] = row
        if (step + 1) % 3 == 0:
            factor = np.where(window_sum / np.float32(min(step + 1, 8)) > np.float32(0.2), 1.02, 0.98)
            scale = np.clip(scale * factor.astype(np.float32), 0.5, 2.0)
    assert np.array_equal(batched.history.numpy(), history)
    assert np.array_equal(batched.window_sum.numpy(), window_sum)
    assert np.array_equal(batched.scale.numpy(), scale) and batched.recorded == 61
