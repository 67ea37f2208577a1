"""Writes tests/neuro_gym/data/reference_spikes.npz: spike rasters of the step-by-step engine before fusion.

Produced at commit a973c42 (the last engine that called ``lif_step`` once per layer and step) by
``python tests/neuro_gym/make_reference_spikes.py``; it records every ``lif_step`` call, so it only runs
against that engine. ``test_ng_engine.py`` replays the same runs on the current engine and compares.
"""

from __future__ import annotations

from pathlib import Path

import neuro_gym.circuit as circuit_module
import numpy as np
import torch
from neuro_gym import Circuit, NeuroGym, get_profile

CASES = {  # name: (task, profile, seed, training epochs)
    "xor_balanced": ("xor", "balanced", 1, 12),
    "xor_original": ("xor", "original", 0, 12),
    "sequence_balanced": ("sequence", "balanced", 0, 4),
    "sequence_original": ("sequence", "original", 2, 3),
}
OUT = Path(__file__).parent / "data" / "reference_spikes.npz"


def replay(run, task: str, profile_name: str, seed: int, epochs: int):
    """Train ``epochs`` presentations and evaluate once through ``run(circuit, gym, inputs, teacher, learn)``;
    return the circuit and the per-presentation results."""
    profile = get_profile(profile_name)
    circuit, data = Circuit.for_task(task, profile, seed)
    gym = NeuroGym(circuit, data, seed=seed, **profile.gym_kwargs())
    results = []
    for epoch in range(epochs):
        teacher = gym.teacher_pattern * gym.teacher_strength(epoch)
        results.append(run(circuit, gym, gym.training_inputs(epoch), teacher, True))
    results.append(run(circuit, gym, gym.eval_inputs, None, False))
    return circuit, results


def main() -> None:
    recorded: list[tuple[int, torch.Tensor]] = []
    original_lif_step = circuit_module.lif_step

    def recording_lif_step(*args, **kwargs):
        out = original_lif_step(*args, **kwargs)
        recorded.append((out[2].shape[1], out[2].clone()))
        return out

    circuit_module.lif_step = recording_lif_step

    def run(circuit, gym, inputs, teacher, learn):
        recorded.clear()
        desired = gym.desired if learn else None
        out = circuit.run(inputs, gym.decision_steps, teacher, desired, learn=learn)
        hidden = torch.stack([s for n, s in recorded if n == circuit.config.num_hidden])
        output = torch.stack([s for n, s in recorded if n == circuit.config.num_outputs])
        return hidden, output, out.counts

    arrays = {}
    for name, case in CASES.items():
        circuit, results = replay(run, *case)
        for i, (hidden, output, counts) in enumerate(results):
            arrays[f"{name}/{i}/hidden"] = np.packbits(hidden.numpy().astype(bool), axis=-1)
            arrays[f"{name}/{i}/output"] = output.numpy().astype(np.uint8)
            arrays[f"{name}/{i}/counts"] = counts.numpy()
        arrays[f"{name}/output_weights"] = circuit.output_weights.numpy()
        arrays[f"{name}/homeostasis_scale"] = circuit.homeostasis.scale.numpy()
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
