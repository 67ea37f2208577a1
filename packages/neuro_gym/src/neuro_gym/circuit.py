"""The spiking circuit: inputs -> fixed random hidden LIF layer -> plastic LIF readout.

State is (batch, neurons) per layer and every sample starts from rest. A whole batch advances one time
step at a time (the batched engine); the per-sample loop engine calls the same :meth:`Circuit.run` with
batch size 1, once per sample, as the original did.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from neuro_gym.engine import FusedEngine
from neuro_gym.neuron import (
    OPTIMIZED_SCHEDULE,
    LIFParams,
    PlasticitySchedule,
    STDPParams,
    SynapsePlasticity,
    ThresholdHomeostasis,
    lif_step,
    stdp_drive,
)
from neuro_gym.profiles import TrainingProfile, get_profile
from trainkit import CheckpointError, ConfigError, load_checkpoint, save_checkpoint

__all__ = ["Circuit", "CircuitConfig", "RunOutput"]


@dataclass(frozen=True)
class CircuitConfig:
    """Sizes and constants of a circuit.

    The hidden layer is fixed: random signed weights from the input traces, each channel seen through
    every axonal delay in ``input_delays`` (steps), and heterogeneous thresholds, so hidden neurons are
    conjunction detectors over channels and time. Only the readout (hidden -> output) is plastic.
    """

    num_inputs: int
    num_hidden: int
    num_outputs: int
    # Steps each token is shown for. The delay lines in ``input_delays`` are built for it, so the gym must
    # present tokens for exactly this many steps (NeuroGym checks it).
    num_time_steps: int = 3
    input_tau: float = 2.0
    input_delays: tuple[int, ...] = (0,)
    hidden_weight_range: tuple[float, float] = (-1.0, 1.0)
    hidden_threshold_range: tuple[float, float] = (1.0, 3.0)
    hidden_target_rate: float = 0.2
    hidden: LIFParams = field(default_factory=LIFParams)
    output: LIFParams = field(default_factory=LIFParams)
    stdp: STDPParams = field(default_factory=STDPParams)

    def __post_init__(self) -> None:
        if min(self.num_inputs, self.num_hidden, self.num_outputs) < 1:
            raise ConfigError(f"layer sizes must be >= 1, got {self.num_inputs}/{self.num_hidden}/{self.num_outputs}")
        if self.num_time_steps < 1:
            raise ConfigError(f"num_time_steps must be >= 1, got {self.num_time_steps}")
        low, high = self.hidden_threshold_range
        if not 0 < low <= high:
            raise ConfigError(f"hidden_threshold_range must satisfy 0 < low <= high, got {low, high}")
        if not self.input_delays or min(self.input_delays) < 0:
            raise ConfigError(f"input_delays must be non-negative steps, got {self.input_delays}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden_threshold_range"] = list(self.hidden_threshold_range)
        out["hidden_weight_range"] = list(self.hidden_weight_range)
        out["input_delays"] = list(self.input_delays)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CircuitConfig:
        data = dict(data)
        # Required, not defaulted: a brain saved without it cannot say which token duration its delays expect.
        data["num_time_steps"] = int(data["num_time_steps"])
        data["hidden"] = LIFParams(**data["hidden"])
        data["output"] = LIFParams(**data["output"])
        data["stdp"] = STDPParams(**data["stdp"])
        data["hidden_threshold_range"] = tuple(data["hidden_threshold_range"])
        data["hidden_weight_range"] = tuple(data["hidden_weight_range"])
        data["input_delays"] = tuple(data["input_delays"])
        return cls(**data)


@dataclass
class RunOutput:
    """What a presentation returns: output spike counts and summed membrane over the decision window.

    With ``record=True`` it also holds the spike rasters: ``hidden_spikes`` (steps, batch, hidden) and
    ``output_spikes`` (decision steps, batch, outputs)."""

    counts: torch.Tensor
    membrane: torch.Tensor
    hidden_rate: torch.Tensor
    hidden_spikes: torch.Tensor | None = None
    output_spikes: torch.Tensor | None = None

    def predictions(self) -> torch.Tensor:
        """Most output spikes wins; ties (including silence) go to the highest summed membrane."""
        top = self.counts.max(dim=1, keepdim=True).values
        tied = torch.where(self.counts == top, self.membrane, torch.full_like(self.membrane, -torch.inf))
        return tied.argmax(dim=1)

    def decided_by_spikes(self) -> torch.Tensor:
        """Per sample: True when one output spiked strictly more than every other, so the membrane
        tie-break (used for ties and for silence) did not choose the answer."""
        if self.counts.shape[1] < 2:
            return self.counts[:, 0] > 0
        # Counts are never negative, so a strict lead over the runner-up also means the winner spiked.
        best, runner_up = self.counts.topk(2, dim=1).values.unbind(1)
        return best > runner_up


class Circuit:
    """A seeded three-layer spiking circuit with a plastic readout (the "brain" that is saved and loaded)."""

    def __init__(
        self,
        config: CircuitConfig,
        schedule: PlasticitySchedule = OPTIMIZED_SCHEDULE,
        seed: int = 0,
        device: torch.device | str = "cpu",
        compiled: bool = False,
    ) -> None:
        self.config = config
        self.schedule = schedule
        self.seed = seed
        self.device = torch.device(device)
        generator = torch.Generator().manual_seed(seed)
        c = config
        w_low, w_high = c.hidden_weight_range
        self.input_weights = (
            w_low + (w_high - w_low) * torch.rand(c.num_hidden, c.num_inputs * len(c.input_delays), generator=generator)
        ).to(self.device)
        low, high = c.hidden_threshold_range
        self.hidden_threshold = (low + (high - low) * torch.rand(c.num_hidden, generator=generator)).to(self.device)
        self.output_weights = torch.zeros(c.num_outputs, c.num_hidden, device=self.device)
        self.plasticity = SynapsePlasticity(self.output_weights, c.stdp, schedule)
        self.homeostasis = ThresholdHomeostasis(c.num_hidden, c.hidden_target_rate, schedule, device=self.device)
        self.input_decay = torch.exp(torch.tensor(-1.0 / c.input_tau)).item()
        self.engine = FusedEngine(self, compiled)

    def run(
        self,
        inputs: torch.Tensor,
        decision_steps: torch.Tensor,
        teacher: torch.Tensor | None = None,
        desired: torch.Tensor | None = None,
        learn: bool = False,
        record: bool = False,
    ) -> RunOutput:
        """Present ``inputs`` (batch, steps, channels) from rest and return the decision-window readout.

        ``teacher`` (batch, steps, outputs) is extra current into the outputs. With ``learn`` the readout
        weights change by STDP in the decision window toward ``desired`` ((batch, outputs) spikes per step)
        and the hidden thresholds follow homeostasis; without it nothing in the circuit changes. This is the
        fused engine (:mod:`neuro_gym.engine`); :meth:`run_stepwise` computes the same step by step.
        """
        if learn and desired is None:
            raise ConfigError("learning needs the desired (teacher) output spikes")
        outputs: list[torch.Tensor] | None = [] if record else None
        counts, membrane, hidden = self.engine.run(inputs, decision_steps, teacher, desired, learn, outputs)
        result = RunOutput(counts=counts, membrane=membrane, hidden_rate=hidden.sum(dim=0) / inputs.shape[1])
        if outputs is not None:
            result.hidden_spikes, result.output_spikes = hidden.clone(), torch.stack(outputs)
        return result

    def run_stepwise(
        self,
        inputs: torch.Tensor,
        decision_steps: torch.Tensor,
        teacher: torch.Tensor | None = None,
        desired: torch.Tensor | None = None,
        learn: bool = False,
    ) -> RunOutput:
        """:meth:`run` one layer and one step at a time (one operation per equation); the per-sample
        ``loop`` engine presents single samples through it, as the original code did."""
        if learn and desired is None:
            raise ConfigError("learning needs the desired (teacher) output spikes")
        c = self.config
        batch, steps, _ = inputs.shape
        zeros = lambda n: torch.zeros(batch, n, device=self.device)  # noqa: E731
        input_trace, v_hidden, theta_hidden = zeros(c.num_inputs), zeros(c.num_hidden), zeros(c.num_hidden)
        v_out, theta_out = zeros(c.num_outputs), zeros(c.num_outputs)
        counts, membrane, hidden_total = zeros(c.num_outputs), zeros(c.num_outputs), zeros(c.num_hidden)
        pre_trace, post_trace = zeros(c.num_hidden), zeros(c.num_outputs)
        hidden_threshold = self.hidden_threshold * self.homeostasis.scale
        stdp = c.stdp
        silent = zeros(c.num_inputs)
        trace_history: list[torch.Tensor] = []
        for t in range(steps):
            input_trace = self.input_decay * input_trace + inputs[:, t]
            trace_history.append(input_trace)
            delayed = torch.cat([trace_history[t - d] if d <= t else silent for d in c.input_delays], dim=1)
            v_hidden, theta_hidden, hidden_spikes, _ = lif_step(
                v_hidden, theta_hidden, delayed @ self.input_weights.T, hidden_threshold, c.hidden
            )
            hidden_total += hidden_spikes
            if learn:
                self.homeostasis.record(hidden_spikes.mean(dim=0))
                pre_trace = stdp.beta_plus * pre_trace + hidden_spikes
            if not decision_steps[t]:
                continue
            # The readout listens only during the decision window, so it answers once everything was seen.
            current = hidden_spikes @ self.output_weights.T
            if teacher is not None:
                current = current + teacher[:, t]
            v_out, theta_out, out_spikes, v_before = lif_step(
                v_out, theta_out, current, 1.0, c.output, winner_take_all=True
            )
            counts += out_spikes
            membrane += v_before
            if learn:
                drive = stdp_drive(pre_trace, hidden_spikes, post_trace, out_spikes, desired, stdp)
                self.plasticity.apply(self.output_weights, drive)
                post_trace = stdp.beta_minus * post_trace + out_spikes
        return RunOutput(counts=counts, membrane=membrane, hidden_rate=hidden_total / steps)

    @classmethod
    def for_task(
        cls,
        task: str | dict[str, Any],
        profile: str | TrainingProfile = "balanced",
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> tuple[Circuit, dict[str, Any]]:
        """``(circuit, task_data)`` for a built-in task ("xor", "sequence") or a ``task_data`` dict, built
        with the profile's token duration and plasticity schedule (the sequence task is drawn from ``seed``)."""
        from neuro_gym.tasks import circuit_config_for, sequence_task, xor_task

        chosen = get_profile(profile) if isinstance(profile, str) else profile
        if isinstance(task, str):
            builders = {"xor": xor_task, "sequence": lambda: sequence_task(seed)}
            if task not in builders:
                raise ConfigError(f"unknown task {task!r}; choose from {sorted(builders)} or pass a task_data dict")
            task = builders[task]()
        circuit = cls(circuit_config_for(task, chosen.num_time_steps), chosen.schedule, seed, device)
        return circuit, task

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "schedule": asdict(self.schedule),
            "seed": self.seed,
            "input_weights": self.input_weights.cpu().clone(),
            "hidden_threshold": self.hidden_threshold.cpu().clone(),
            "output_weights": self.output_weights.cpu().clone(),
            "plasticity": {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in self.plasticity.state_dict().items()},
            "homeostasis": {
                k: (v.cpu() if torch.is_tensor(v) else v) for k, v in self.homeostasis.state_dict().items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["config"] != self.config.to_dict():
            raise CheckpointError("the saved circuit has a different configuration than this one")
        self.input_weights.copy_(state["input_weights"])
        self.hidden_threshold.copy_(state["hidden_threshold"])
        self.output_weights.copy_(state["output_weights"])
        self.plasticity.load_state_dict(state["plasticity"])
        self.homeostasis.load_state_dict(state["homeostasis"])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the brain atomically (trainkit checkpoint)."""
        return save_checkpoint(path, {"circuit": self.state_dict()}, package="neuro_gym", kind="brain")

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: torch.device | str = "cpu") -> Circuit:
        """Rebuild a saved brain; a missing or foreign file raises :class:`trainkit.CheckpointError`."""
        state = load_checkpoint(path, package="neuro_gym", kind="brain")
        if "circuit" not in state:
            raise CheckpointError(f"{path}: holds no circuit")
        saved = state["circuit"]
        try:
            circuit = cls(
                CircuitConfig.from_dict(saved["config"]),
                PlasticitySchedule(**saved["schedule"]),
                seed=int(saved["seed"]),
                device=device,
            )
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: circuit state is incomplete ({exc})") from exc
        circuit.load_state_dict(saved)
        return circuit
