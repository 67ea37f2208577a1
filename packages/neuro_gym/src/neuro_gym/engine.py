"""The fused batched engine: one presentation of a batch with as few kernel launches as the maths allows.

At these sizes (18 -> 256 -> 10 neurons, batch 100) a step costs far more in per-operation dispatch than in
arithmetic, so the engine is shaped to launch few operations:

- The hidden layer gets nothing back from the readout and its thresholds are fixed for a presentation
  (homeostasis rescales them between presentations), so its input traces, delay lines and input currents
  for all steps are a handful of batched operations; only its reset non-linearity is stepped in time,
  with in-place updates (6 operations a step: the threshold test is ``v - threshold >= theta``, which
  is exactly ``(v - threshold) - theta >= 0`` in floating point, without the second subtraction).
- The plastic readout runs only in the decision window; its presynaptic traces for those steps are one
  matrix product over the hidden spike raster.
- No boolean tensors: on the CPU build used here a comparison into bool, ``where`` or ``masked_fill``
  costs 5-20x a float operation, so masks are 0/1 floats and selections use ``lerp``.
- No Python scalars as operands: torch 2.13 turns each into a tensor with three extra operations, so the
  constants are 0-dim tensors made once (the same float32 values, so the same results).
- Working buffers are allocated once per (batch, steps) shape and reused.

It computes what the step-by-step engine (:meth:`Circuit.run_stepwise`) computes, up to float rounding
(products are summed in another order); ``tests/neuro_gym/test_ng_engine.py`` checks that the spikes are
the same on fixed seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from neuro_gym.circuit import Circuit

__all__ = ["FusedEngine", "decay_matrix", "delayed_trace_matrix", "evaluation", "hidden_currents", "hidden_steps"]


def hidden_steps(
    currents: torch.Tensor, threshold: torch.Tensor, beta_m: float, beta_theta: float, increment: float
) -> torch.Tensor:
    """The hidden layer's LIF recursion written functionally, for ``torch.compile`` to fuse all steps into
    one kernel; the same equations, in the same order, as :meth:`FusedEngine.hidden_layer`'s loop."""
    v, theta = torch.zeros_like(threshold), torch.zeros_like(threshold)
    raster = []
    for t in range(currents.shape[0]):
        v = v * beta_m + currents[t]
        spikes = ((v - threshold) - theta >= 0).to(v.dtype)
        theta = theta * beta_theta + spikes * increment
        v = v - v * spikes
        raster.append(spikes)
    return torch.stack(raster)


def hidden_currents(inputs: torch.Tensor, delayed_traces: torch.Tensor, input_weights: torch.Tensor) -> torch.Tensor:
    """The hidden layer's input currents (steps, batch, hidden) for ``inputs`` (batch, steps, channels), in
    two matrix products: ``delayed_traces`` (:func:`delayed_trace_matrix`) gives every sample's input trace
    at every step through every delay line; one copy puts them in the weights' (delay, channel) order."""
    batch, steps, channels = inputs.shape
    traces = torch.mm(delayed_traces, inputs.transpose(0, 1).reshape(steps, -1))  # rows (step, delay)
    delayed = traces.view(steps, -1, batch, channels).transpose(1, 2).reshape(steps * batch, -1)
    return torch.mm(delayed, input_weights.T).view(steps, batch, -1)


def evaluation(
    inputs: torch.Tensor,
    delayed_traces: torch.Tensor,
    input_weights: torch.Tensor,
    threshold: torch.Tensor,
    output_weights: torch.Tensor,
    decision: tuple[int, ...],
    hidden_lif: tuple[float, float, float],
    output_lif: tuple[float, float, float],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A whole teacher-free, plasticity-free presentation written functionally, for ``torch.compile`` to
    turn into a few kernels: (counts, summed membrane, hidden spike raster). The same equations, in the same
    order, as :meth:`FusedEngine.hidden_layer` and :meth:`FusedEngine.readout`; the LIF tuples are
    (beta_m, beta_theta, theta_increment)."""
    batch = inputs.shape[0]
    currents = hidden_currents(inputs, delayed_traces, input_weights)
    raster = hidden_steps(currents, threshold, *hidden_lif)
    beta_m, beta_theta, increment = output_lif
    v = torch.zeros(batch, output_weights.shape[0], device=inputs.device)
    theta, counts, membrane = torch.zeros_like(v), torch.zeros_like(v), torch.zeros_like(v)
    for t in decision:
        v = v * beta_m + raster[t] @ output_weights.T
        membrane = membrane + v
        best, winner = ((v - 1.0) - theta).max(dim=1, keepdim=True)
        fire = (best >= 0).to(v.dtype)
        spikes = torch.zeros_like(v).scatter(1, winner, fire)
        counts = counts + spikes
        v = v - v * fire
        theta = theta * beta_theta + spikes * increment
    return counts, membrane, raster


def delayed_trace_matrix(steps: int, decay: float, delays: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(steps * delays, steps): row (t, i) holds row ``t - delays[i]`` of :func:`decay_matrix` (zeros before
    the first step), so its product with one sample's (steps, channels) inputs is the input trace at every
    step seen through every delay line, from rest."""
    traces = decay_matrix(steps, decay, device)
    rows = torch.zeros(steps, len(delays), steps, device=device)
    for t in range(steps):
        for i, delay in enumerate(delays):
            if t >= delay:
                rows[t, i] = traces[t - delay]
    return rows.view(steps * len(delays), steps)


def decay_matrix(steps: int, decay: float, device: torch.device) -> torch.Tensor:
    """(steps, steps) lower-triangular ``M[t, s] = decay ** (t - s)``: ``M @ x`` is the trace
    ``y[t] = decay * y[t - 1] + x[t]`` from rest, for all steps in one product."""
    lag = torch.arange(steps)[:, None] - torch.arange(steps)[None, :]
    return torch.where(lag >= 0, decay ** lag.clamp(min=0).double(), 0.0).float().to(device)


class _Buffers:
    """Working tensors for one (batch, steps, decision steps) shape."""

    def __init__(self, circuit: Circuit, batch: int, steps: int, decision: list[int]) -> None:
        c, device = circuit.config, circuit.device
        hidden, outputs = c.num_hidden, c.num_outputs
        empty = lambda *shape: torch.zeros(*shape, device=device)  # noqa: E731
        self.decision = decision
        contiguous = decision == list(range(decision[0], decision[-1] + 1)) if decision else False
        self.window = slice(decision[0], decision[-1] + 1) if contiguous else torch.tensor(decision, device=device)
        self.delayed_traces = delayed_trace_matrix(steps, circuit.input_decay, c.input_delays, device)
        self.pre_decay = decay_matrix(steps, c.stdp.beta_plus, device)[decision]
        self.spikes = empty(steps, batch, hidden)
        self.v, self.theta, self.above = empty(batch, hidden), empty(batch, hidden), empty(batch, hidden)
        self.threshold = empty(batch, hidden)
        self.v_out, self.theta_out = empty(batch, outputs), empty(batch, outputs)
        self.above_out, self.current = empty(batch, outputs), empty(batch, outputs)
        self.out_spikes, self.fire = empty(batch, outputs), empty(batch, 1)
        self.error, self.post_trace = empty(batch, outputs), empty(batch, outputs)
        self.spike_rows = self.spikes.unbind(0)  # per-step views, made once
        scalar = lambda x: torch.tensor(x, device=device)  # noqa: E731
        self.hidden_beta_m, self.hidden_beta_theta = scalar(c.hidden.beta_m), scalar(c.hidden.beta_theta)
        self.beta_m, self.beta_theta = scalar(c.output.beta_m), scalar(c.output.beta_theta)
        self.beta_minus, self.zero, self.one = scalar(c.stdp.beta_minus), scalar(0.0), scalar(1.0)


class FusedEngine:
    """Presents batches to one circuit; keeps the circuit's working buffers between presentations.

    With ``compiled`` a whole evaluation (:func:`evaluation`) and, in training, the hidden layer's time loop
    are ``torch.compile``-d (needs a C++ compiler; compiles once per input shape, seconds each)."""

    def __init__(self, circuit: Circuit, compiled: bool = False) -> None:
        self.circuit = circuit
        self.compiled = compiled
        self._buffers: dict[tuple[int, int, tuple[int, ...]], _Buffers] = {}
        self._compiled_steps = torch.compile(hidden_steps, dynamic=False, fullgraph=True) if compiled else None
        self._compiled_evaluation = torch.compile(evaluation, dynamic=False, fullgraph=True) if compiled else None

    def _buffers_for(self, batch: int, steps: int, decision: list[int]) -> _Buffers:
        key = (batch, steps, tuple(decision))
        if key not in self._buffers:
            self._buffers[key] = _Buffers(self.circuit, batch, steps, decision)
        return self._buffers[key]

    def hidden_layer(self, inputs: torch.Tensor, buf: _Buffers) -> torch.Tensor:
        """The hidden spike raster (steps, batch, hidden) for ``inputs`` (batch, steps, channels)."""
        circuit, c = self.circuit, self.circuit.config
        currents = hidden_currents(inputs, buf.delayed_traces, circuit.input_weights)
        # Expanded to (batch, hidden) once: a broadcasting subtraction costs ~10x a same-shape one on CPU.
        threshold = buf.threshold.copy_((circuit.hidden_threshold * circuit.homeostasis.scale).expand_as(buf.v))
        increment = c.hidden.theta_increment
        if self._compiled_steps is not None:
            beta_m, beta_theta = c.hidden.beta_m, c.hidden.beta_theta
            buf.spikes.copy_(self._compiled_steps(currents, threshold, beta_m, beta_theta, increment))
            return buf.spikes
        v, theta, above = buf.v.zero_(), buf.theta.zero_(), buf.above
        beta_m, beta_theta = buf.hidden_beta_m, buf.hidden_beta_theta
        for current, spikes in zip(currents.unbind(0), buf.spike_rows, strict=True):
            v.mul_(beta_m).add_(current)
            torch.sub(v, threshold, out=above)
            torch.ge(above, theta, out=spikes)
            theta.mul_(beta_theta).add_(spikes, alpha=increment)
            v.addcmul_(v, spikes, value=-1.0)  # reset to 0 where it spiked
        return buf.spikes

    def readout(
        self,
        hidden: torch.Tensor,
        buf: _Buffers,
        teacher: torch.Tensor | None,
        desired: torch.Tensor | None,
        learn: bool,
        record: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Winner-take-all LIF readout over the decision window, learning by STDP when ``learn``;
        returns (spike counts, summed membrane before reset), each (batch, outputs). With ``record`` each
        step's output spikes are appended to it."""
        circuit, c = self.circuit, self.circuit.config
        stdp, lif = c.stdp, c.output
        batch = hidden.shape[1]
        counts = torch.zeros(batch, c.num_outputs, device=circuit.device)
        membrane = torch.zeros_like(counts)
        v, theta, above, current = buf.v_out.zero_(), buf.theta_out.zero_(), buf.above_out, buf.current
        out_spikes, fire, post_trace = buf.out_spikes, buf.fire, buf.post_trace.zero_()
        if learn:
            # The presynaptic (hidden) traces at the decision steps, all in one product over the raster.
            pre_traces = torch.matmul(buf.pre_decay, hidden.view(hidden.shape[0], -1))
            pre_traces = pre_traces.view(len(buf.decision), batch, -1)
        # Without teacher and learning the weights are fixed: all decision steps' currents in one product.
        window = (
            torch.matmul(hidden[buf.window], circuit.output_weights.T)
            if teacher is None and not learn and buf.decision
            else None
        )
        for k, t in enumerate(buf.decision):
            weights_t = circuit.output_weights.T
            if window is not None:
                current = window[k]
            elif teacher is None:
                torch.mm(hidden[t], weights_t, out=current)
            else:
                torch.addmm(teacher[:, t], hidden[t], weights_t, out=current)
            v.mul_(buf.beta_m).add_(current)
            membrane.add_(v)
            torch.sub(v, buf.one, out=above).sub_(theta)
            best, winner = above.max(dim=1, keepdim=True)
            torch.ge(best, buf.zero, out=fire)
            out_spikes.zero_().scatter_(1, winner, fire)
            counts.add_(out_spikes)
            if record is not None:
                record.append(out_spikes.clone())
            v.addcmul_(v, fire, value=-1.0)  # the winner's firing resets the whole layer of that sample
            theta.mul_(buf.beta_theta).add_(out_spikes, alpha=lif.theta_increment)
            if learn:
                # ReSuMe drive: a_plus * (desired - actual)^T pre_trace - a_minus * post_trace^T pre_spikes.
                torch.sub(desired, out_spikes, out=buf.error)
                drive = torch.mm(buf.error.T, pre_traces[k])
                drive = torch.addmm(drive, post_trace.T, hidden[t], beta=stdp.a_plus, alpha=-stdp.a_minus)
                circuit.plasticity.apply(circuit.output_weights, drive)
                post_trace.mul_(buf.beta_minus).add_(out_spikes)
        return counts, membrane

    def _evaluate_compiled(self, inputs: torch.Tensor, buf: _Buffers) -> tuple[torch.Tensor, ...]:
        circuit, c = self.circuit, self.circuit.config
        threshold = buf.threshold.copy_((circuit.hidden_threshold * circuit.homeostasis.scale).expand_as(buf.v))
        return self._compiled_evaluation(
            inputs,
            buf.delayed_traces,
            circuit.input_weights,
            threshold,
            circuit.output_weights,
            tuple(buf.decision),
            (c.hidden.beta_m, c.hidden.beta_theta, c.hidden.theta_increment),
            (c.output.beta_m, c.output.beta_theta, c.output.theta_increment),
        )

    def run(
        self,
        inputs: torch.Tensor,
        decision_steps: torch.Tensor,
        teacher: torch.Tensor | None,
        desired: torch.Tensor | None,
        learn: bool,
        record: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One presentation: (output spike counts, summed membrane, hidden spike raster (steps, batch, hidden)).

        The raster is a reused buffer: copy it to keep it past the next presentation."""
        batch, steps, _ = inputs.shape
        decision = torch.nonzero(decision_steps).flatten().tolist()
        buf = self._buffers_for(batch, steps, decision)
        if self._compiled_evaluation is not None and not learn and teacher is None and record is None:
            return self._evaluate_compiled(inputs, buf)
        hidden = self.hidden_layer(inputs, buf)
        if learn:
            self.circuit.homeostasis.record_many(hidden.mean(dim=1))
        counts, membrane = self.readout(hidden, buf, teacher, desired, learn, record)
        return counts, membrane, hidden
