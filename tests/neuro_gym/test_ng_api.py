"""Issue 19's traps: token duration lives in the circuit, tie-break share is reported, the design
document's snippet runs with one added line, and the CLI honours --threads."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest
import torch
from neuro_gym import Circuit, CircuitConfig, NeuroGym, RunOutput, get_profile, sequence_task, train_relentless

from trainkit import CheckpointError, ConfigError

README = Path(__file__).resolve().parents[2] / "packages" / "neuro_gym" / "README.md"


def test_num_time_steps_is_part_of_the_circuit_and_a_mismatch_is_a_one_line_error():
    circuit, task = Circuit.for_task("sequence", "balanced", seed=0)
    assert circuit.config.num_time_steps == 3 and circuit.config.input_delays == (0, 3, 6)
    assert NeuroGym(circuit, task).num_time_steps == 3  # the gym takes the circuit's value by default
    with pytest.raises(ConfigError) as error:
        NeuroGym(circuit, task, num_time_steps=5)
    assert "built for 3" in str(error.value) and "\n" not in str(error.value)
    # A profile with another token duration (max_accuracy: 5 steps, same schedule) is refused as well.
    with pytest.raises(ConfigError, match="num_time_steps=5"):
        next(train_relentless(circuit, task, profile=get_profile("max_accuracy")))


def test_saved_brain_keeps_its_token_duration_and_one_without_it_is_refused(tmp_path):
    circuit, _ = Circuit.for_task("sequence", "max_speed", seed=0)
    loaded = Circuit.load(circuit.save(tmp_path / "brain.pt"))
    assert loaded.config.num_time_steps == 2 and loaded.config.input_delays == (0, 2, 4)
    state = circuit.state_dict()
    del state["config"]["num_time_steps"]
    from trainkit import save_checkpoint

    save_checkpoint(tmp_path / "old.pt", {"circuit": state}, package="neuro_gym", kind="brain")
    with pytest.raises(CheckpointError, match="incomplete"):
        Circuit.load(tmp_path / "old.pt")
    # A file of another kind (a training checkpoint, another package's) is refused as a brain.
    save_checkpoint(
        tmp_path / "run.pt", {"circuit": circuit.state_dict()}, package="neuro_gym", kind="train_relentless"
    )
    with pytest.raises(CheckpointError, match="brain"):
        Circuit.load(tmp_path / "run.pt")
    with pytest.raises(ConfigError):
        CircuitConfig(4, 8, 2, num_time_steps=0)


def test_decided_by_spikes_counts_ties_and_silence_as_tie_breaks():
    output = RunOutput(
        counts=torch.tensor([[2.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 3.0]]),
        membrane=torch.tensor([[0.0, 5.0], [0.2, 0.1], [0.3, 0.4], [9.0, 0.0]]),
        hidden_rate=torch.zeros(4, 1),
    )
    assert output.decided_by_spikes().tolist() == [True, False, False, True]
    assert output.predictions().tolist() == [0, 0, 1, 1]
    # A tie among three outputs below a leader still counts as decided; a three-way tie at the top does not.
    three = RunOutput(torch.tensor([[3.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), torch.zeros(2, 3), torch.zeros(2, 1))
    assert three.decided_by_spikes().tolist() == [True, False]
    single = RunOutput(torch.tensor([[1.0], [0.0]]), torch.zeros(2, 1), torch.zeros(2, 1))
    assert single.decided_by_spikes().tolist() == [True, False]  # one output: decided whenever it spiked


def test_evaluation_reports_and_flags_the_tie_break_share():
    circuit, task = Circuit.for_task("xor", "balanced", seed=0)
    gym = NeuroGym(circuit, task)
    _, silent = gym.evaluate(torch.zeros_like(gym.eval_inputs), gym.eval_labels)
    assert silent["tie_break_share"] == 1.0 and silent["spike_decided_share"] == 0.0 and silent["tie_break_flag"]
    # Seed 1 reaches 4/4 with half of its answers chosen by the membrane tie-break; seed 0 by spikes alone.
    shares = {}
    for seed in (0, 1):
        circuit, task = Circuit.for_task("xor", "balanced", seed=seed)
        last = list(train_relentless(circuit, task, target_acc=1.0, max_epochs=100, seed=seed))[-1]
        assert last["reached_target"]
        shares[seed] = (last["tie_break_share"], last["tie_break_flag"])
    assert shares == {0: (0.0, False), 1: (0.5, True)}


def test_design_document_snippet_runs_with_one_added_line():
    block = re.search(r"<!-- snippet:start -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lacks the snippet block"
    code = block.group(1)
    # The design document's lines are all there, unchanged, plus exactly one.
    original = [
        "from neuro_gym import NeuroGym",
        "from smart_trainer import train_relentless",
        "for status in train_relentless(circuit, task_data, target_acc=0.9):",
        "    print(f\"Epoch {status['epoch']}: {status['accuracy']:.2%}\")",
    ]
    lines = [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert [line for line in lines if line in original] == original and len(lines) == len(original) + 1
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    epochs = re.findall(r"Epoch (\d+): ([\d.]+)%", printed.getvalue())
    assert epochs and float(epochs[-1][1]) >= 90.0


def test_cli_uses_the_thread_count_asked_for(tmp_path, capsys):
    from neuro_gym.cli import main

    from trainkit.cli import DEFAULT_THREADS

    before = torch.get_num_threads()
    try:
        args = ["train", "--task", "xor", "--max-epochs", "2", "--checkpoint-dir", str(tmp_path)]
        cores = len(os.sched_getaffinity(0))
        assert main([*args, "--threads", str(cores)]) == 0
        assert torch.get_num_threads() == cores
        with pytest.raises(SystemExit) as refused:  # more threads than cores: one line, exit 2, before any work
            main([*args, "--threads", str(cores + 1)])
        assert refused.value.code == 2 and "usable cores" in capsys.readouterr().err
        assert main(["stdp-competition", "--out", str(tmp_path), "--duration", "0.1"]) == 0
        assert torch.get_num_threads() == DEFAULT_THREADS == 1
        with pytest.raises(SystemExit) as exited:
            main([*args, "--threads", "0"])
        assert exited.value.code == 2 and "--threads" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


def test_sequence_task_builder_matches_for_task():
    _, task = Circuit.for_task("sequence", "balanced", seed=4)
    assert (task["inputs"] == sequence_task(4)["inputs"]).all()
    with pytest.raises(ConfigError, match="unknown task"):
        Circuit.for_task("parity")
