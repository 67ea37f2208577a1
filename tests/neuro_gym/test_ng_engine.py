"""The fused engine gives the spikes of the step-by-step engine it replaced (rasters recorded before the
fusion by make_reference_spikes.py), and agrees with the step-by-step engine still used per sample."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from neuro_gym import Circuit, NeuroGym, get_profile
from neuro_gym.engine import decay_matrix

HERE = Path(__file__).parent
REFERENCE = HERE / "data" / "reference_spikes.npz"
_spec = importlib.util.spec_from_file_location("neuro_gym_reference_spikes", HERE / "make_reference_spikes.py")
_maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_maker)
CASES, replay = _maker.CASES, _maker.replay


def _fused(circuit, gym, inputs, teacher, learn):
    out = circuit.run(inputs, gym.decision_steps, teacher, gym.desired if learn else None, learn=learn, record=True)
    return out.hidden_spikes, out.output_spikes, out.counts


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_engine_reproduces_the_pre_fusion_spike_rasters(name):
    circuit, results = replay(_fused, *CASES[name])
    with np.load(REFERENCE, allow_pickle=False) as reference:
        for i, (hidden, output, counts) in enumerate(results):
            hidden_bits = np.packbits(hidden.numpy().astype(bool), axis=-1)
            assert np.array_equal(hidden_bits, reference[f"{name}/{i}/hidden"]), f"{name}: hidden spikes, run {i}"
            assert np.array_equal(output.numpy().astype(np.uint8), reference[f"{name}/{i}/output"]), f"run {i}"
            assert np.array_equal(counts.numpy(), reference[f"{name}/{i}/counts"])
        # Weights and thresholds agree to float rounding (sums are taken in another order).
        np.testing.assert_allclose(circuit.output_weights.numpy(), reference[f"{name}/output_weights"], atol=1e-5)
        np.testing.assert_allclose(circuit.homeostasis.scale.numpy(), reference[f"{name}/homeostasis_scale"], rtol=1e-6)
    assert len(results) == CASES[name][3] + 1 and any(h.any() for h, _, _ in results)


def test_fused_and_stepwise_engines_agree_on_a_fresh_seed():
    profile = get_profile("original")
    fused, task = Circuit.for_task("sequence", profile, seed=7)
    stepwise, _ = Circuit.for_task("sequence", profile, seed=7)
    gym = NeuroGym(fused, task, seed=7, **profile.gym_kwargs())
    for epoch in range(2):
        inputs, teacher = gym.training_inputs(epoch), gym.teacher_pattern * gym.teacher_strength(epoch)
        a = fused.run(inputs, gym.decision_steps, teacher, gym.desired, learn=True)
        b = stepwise.run_stepwise(inputs, gym.decision_steps, teacher, gym.desired, learn=True)
        assert torch.equal(a.counts, b.counts) and torch.equal(a.hidden_rate, b.hidden_rate)
        torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused.output_weights, stepwise.output_weights, rtol=0, atol=1e-5)
    assert fused.plasticity.updates == stepwise.plasticity.updates == 2 * 5
    assert fused.homeostasis.recorded == stepwise.homeostasis.recorded == 2 * 15


def test_decay_matrix_is_the_trace_recursion():
    x = torch.rand(6, 3)
    trace, expected = torch.zeros(3), []
    for row in x:
        trace = 0.7 * trace + row
        expected.append(trace)
    torch.testing.assert_close(decay_matrix(6, 0.7, torch.device("cpu")) @ x, torch.stack(expected))


def test_evaluation_changes_nothing_and_buffers_do_not_leak_between_presentations():
    circuit, task = Circuit.for_task("sequence", "balanced", seed=3)
    gym = NeuroGym(circuit, task, seed=3)
    gym.train_epoch()
    weights, scale = circuit.output_weights.clone(), circuit.homeostasis.scale.clone()
    first = circuit.run(gym.eval_inputs, gym.decision_steps)
    circuit.run(gym.eval_inputs[:7], gym.decision_steps)  # another shape, other buffers
    circuit.run(torch.ones_like(gym.eval_inputs), gym.decision_steps)  # same shape, same buffers
    again = circuit.run(gym.eval_inputs, gym.decision_steps)
    assert torch.equal(first.counts, again.counts) and torch.equal(first.membrane, again.membrane)
    assert torch.equal(weights, circuit.output_weights) and torch.equal(scale, circuit.homeostasis.scale)


@pytest.mark.slow  # two torch.compile runs: about 15 CPU seconds with a cold compile cache
def test_compiled_engine_reproduces_the_pre_fusion_spike_rasters(monkeypatch):
    # The same replay with compiled=True: training compiles the hidden time loop, a plain evaluation the
    # whole presentation (one input shape here, so one compile of each).
    built_by = Circuit.for_task
    built: dict = {}

    def for_task(task, profile, seed):
        circuit, data = built_by(task, profile, seed)
        built["circuit"] = Circuit(circuit.config, circuit.schedule, seed, compiled=True)
        built["data"] = data
        return built["circuit"], data

    monkeypatch.setattr(Circuit, "for_task", staticmethod(for_task))
    name = "sequence_balanced"
    _, results = replay(_fused, *CASES[name])
    last = len(results) - 1
    with np.load(REFERENCE, allow_pickle=False) as reference:
        for i, (hidden, output, _) in enumerate(results):
            assert np.array_equal(np.packbits(hidden.numpy().astype(bool), axis=-1), reference[f"{name}/{i}/hidden"])
            assert np.array_equal(output.numpy().astype(np.uint8), reference[f"{name}/{i}/output"])
        circuit = built["circuit"]
        gym = NeuroGym(circuit, built["data"])
        evaluated = circuit.run(gym.eval_inputs, gym.decision_steps)  # the compiled whole-presentation path
        assert np.array_equal(evaluated.counts.numpy(), reference[f"{name}/{last}/counts"])
        raster = np.unpackbits(reference[f"{name}/{last}/hidden"], axis=-1)[..., : circuit.config.num_hidden]
        np.testing.assert_allclose(evaluated.hidden_rate.numpy(), raster.mean(axis=0), rtol=1e-6)
