"""NeuroGym: trains a circuit on ``task_data`` with teacher forcing and evaluates it without teacher or plasticity."""

from __future__ import annotations

import time
from typing import Any, Literal

import torch

from neuro_gym.circuit import Circuit, RunOutput
from neuro_gym.tasks import validate_task_data
from trainkit import ConfigError, DataError

__all__ = ["ENGINES", "TIE_BREAK_LIMIT", "NeuroGym"]

ENGINES = ("batched", "loop")
# An evaluation where the membrane tie-break, not the spike counts, chooses more than this share of the
# answers is flagged: its accuracy says more about sub-threshold voltages than about spiking.
TIE_BREAK_LIMIT = 0.10


class NeuroGym:
    """Train/evaluate loop around one circuit and one task.

    Teacher forcing is current injected into the correct output neurons during the decision window of
    training presentations only. Its strength is ``teacher_current * max(teacher_fade ** epoch,
    teacher_floor)`` times the curriculum factor ``1 - curriculum_drop * min(epoch / curriculum_epochs, 1)``:
    help fades each epoch and the task gets harder (less help) over the curriculum. Evaluation presents
    the held-out set (or the training set when the task has none) with no teacher and no plasticity.
    ``num_time_steps`` defaults to the circuit's (``CircuitConfig.num_time_steps``); another value is an error.

    ``engine="batched"`` presents the whole dataset at once through the fused engine (one summed weight
    update per step); ``engine="loop"`` presents one sample at a time in random order (one update per sample
    step), as the original did, through the same fused engine at batch 1, so that the per-sample arm has
    every optimisation the batched one has except the batching. :meth:`Circuit.run_stepwise` stays the
    step-by-step reference that the engine tests compare against.
    """

    # The design document's snippet imports only NeuroGym; this lets it build its circuit in one added line.
    for_task = staticmethod(Circuit.for_task)

    def __init__(
        self,
        circuit: Circuit,
        task_data: dict[str, Any],
        num_time_steps: int | None = None,
        teacher_fade: float = 0.85,
        curriculum_epochs: int = 50,
        curriculum_drop: float = 0.15,
        curriculum_noise: float = 0.20,
        teacher_current: float = 1.5,
        teacher_floor: float = 0.0,
        input_scale: float = 1.0,
        engine: Literal["batched", "loop"] = "batched",
        seed: int = 0,
    ) -> None:
        built_for = circuit.config.num_time_steps
        if num_time_steps is None:
            num_time_steps = built_for
        elif num_time_steps != built_for:
            raise ConfigError(
                f"num_time_steps={num_time_steps} but the circuit was built for {built_for} steps per token "
                f"(its delay lines depend on it); rebuild it with circuit_config_for(task, {num_time_steps})"
            )
        if not 0.0 < teacher_fade <= 1.0 or not 0.0 <= teacher_floor <= 1.0:
            raise ConfigError(
                f"need 0 < teacher_fade <= 1 and 0 <= teacher_floor <= 1, got {teacher_fade}, {teacher_floor}"
            )
        if curriculum_epochs < 1 or not 0.0 <= curriculum_drop < 1.0:
            raise ConfigError(
                f"need curriculum_epochs >= 1 and 0 <= curriculum_drop < 1, got {curriculum_epochs}, {curriculum_drop}"
            )
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.task = validate_task_data(task_data)
        channels = self.task["inputs"].shape[2]
        if channels != circuit.config.num_inputs or self.task["num_classes"] != circuit.config.num_outputs:
            raise DataError(
                f"task has {channels} channels and {self.task['num_classes']} classes, the circuit expects "
                f"{circuit.config.num_inputs} and {circuit.config.num_outputs}"
            )
        self.circuit = circuit
        self.num_time_steps = num_time_steps
        self.teacher_fade = teacher_fade
        self.teacher_floor = teacher_floor
        self.curriculum_epochs = curriculum_epochs
        self.curriculum_drop = curriculum_drop
        self.curriculum_noise = curriculum_noise
        self.teacher_current = teacher_current
        self.input_scale = input_scale
        self.engine = engine
        self.epoch = 0
        self.generator = torch.Generator().manual_seed(seed)
        device = circuit.device
        tokens = self.task["inputs"].shape[1]
        # The last token's steps are the decision window: the readout must answer once it has seen everything.
        self.decision_steps = torch.zeros(tokens * num_time_steps, dtype=torch.bool, device=device)
        self.decision_steps[(tokens - 1) * num_time_steps :] = True
        # Cached once: per-step input currents, the unit teacher current pattern and the desired output spikes.
        self.train_tokens = torch.as_tensor(self.task["inputs"], device=device)
        self.train_inputs = self._currents(self.train_tokens)
        self.train_labels = torch.as_tensor(self.task["labels"], device=device)
        one_hot = torch.nn.functional.one_hot(self.train_labels, self.task["num_classes"]).float()
        self.teacher_pattern = one_hot[:, None, :] * self.decision_steps[None, :, None].float()
        self.desired = one_hot
        held_out = "eval_inputs" in self.task
        self.eval_inputs = (
            self._currents(torch.as_tensor(self.task["eval_inputs"], device=device)) if held_out else self.train_inputs
        )
        self.eval_labels = torch.as_tensor(self.task["eval_labels"], device=device) if held_out else self.train_labels

    def _currents(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens * self.input_scale).repeat_interleave(self.num_time_steps, dim=1)

    def difficulty(self, epoch: int) -> float:
        """Curriculum progress in [0, 1] for a (0-based) epoch."""
        return min(epoch / self.curriculum_epochs, 1.0)

    def teacher_strength(self, epoch: int) -> float:
        """Teacher current for a (0-based) epoch: faded each epoch, reduced over the curriculum."""
        fade = max(self.teacher_fade**epoch, self.teacher_floor)
        return self.teacher_current * fade * (1.0 - self.curriculum_drop * self.difficulty(epoch))

    def training_inputs(self, epoch: int) -> torch.Tensor:
        """The training currents of an epoch: fresh background noise (off cells turning on) ramps up to
        ``curriculum_noise`` over the curriculum, so the readout cannot memorise the training samples."""
        noise = self.curriculum_noise * self.difficulty(epoch)
        if noise <= 0.0:
            return self.train_inputs
        flips = torch.rand(self.train_tokens.shape, generator=self.generator) < noise
        return self._currents(torch.where(flips.to(self.train_tokens.device), 1.0, self.train_tokens))

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training set with teacher and plasticity; returns timing and teacher strength."""
        started = time.perf_counter()
        strength = self.teacher_strength(self.epoch)
        teacher = self.teacher_pattern * strength
        inputs = self.training_inputs(self.epoch)
        if self.engine == "batched":
            self.circuit.run(inputs, self.decision_steps, teacher, self.desired, learn=True)
        else:
            for i in torch.randperm(len(self.train_labels), generator=self.generator).tolist():
                self.circuit.run(
                    inputs[i : i + 1],
                    self.decision_steps,
                    teacher[i : i + 1],
                    self.desired[i : i + 1],
                    learn=True,
                )
        self.epoch += 1
        return {"train_ms": 1000.0 * (time.perf_counter() - started), "teacher": strength}

    def present(self, inputs: torch.Tensor) -> RunOutput:
        """Teacher-free, plasticity-free presentation with this gym's engine."""
        if self.engine == "batched":
            return self.circuit.run(inputs, self.decision_steps)
        outputs = [self.circuit.run(inputs[i : i + 1], self.decision_steps) for i in range(inputs.shape[0])]
        return RunOutput(
            counts=torch.cat([o.counts for o in outputs]),
            membrane=torch.cat([o.membrane for o in outputs]),
            hidden_rate=torch.cat([o.hidden_rate for o in outputs]),
        )

    def evaluate(self, inputs: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> tuple[float, dict]:
        """Accuracy on the held-out set (or the given ``inputs``/``labels`` currents), no teacher, no learning."""
        started = time.perf_counter()
        inputs = self.eval_inputs if inputs is None else inputs
        labels = self.eval_labels if labels is None else labels
        output = self.present(inputs)
        predictions = output.predictions()
        accuracy = float((predictions == labels).float().mean())
        by_spikes = float(output.decided_by_spikes().float().mean())
        metrics = {
            "spike_decided_share": by_spikes,
            "tie_break_share": 1.0 - by_spikes,
            "tie_break_flag": 1.0 - by_spikes > TIE_BREAK_LIMIT,
            "eval_ms": 1000.0 * (time.perf_counter() - started),
            "output_spikes_per_sample": float(output.counts.sum(dim=1).mean()),
            "hidden_rate": float(output.hidden_rate.mean()),
            "predictions": predictions.tolist(),
        }
        return accuracy, metrics

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.generator.set_state(state["generator"])
