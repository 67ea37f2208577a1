"""Per-step cost of the engine against a FLOP bound and other spiking simulators on the same network.

The network is the sequence circuit: 6 channels through 3 delay lines (18 inputs) -> 256 LIF -> 10 LIF,
batch 100, 3 tokens of 3 steps (decision window: the last 3). "10x" scales every layer by 10
(60 channels x 3 delays = 180 -> 2560 -> 100). Times are CPU seconds (``time.process_time``) per simulated
step, the fastest of several repeats, one torch thread unless the caller set another.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from neuro_gym.circuit import Circuit, CircuitConfig
from neuro_gym.engine import hidden_currents
from neuro_gym.neuro_gym import NeuroGym
from trainkit.timing import measure

__all__ = ["engine_comparison", "flops_per_step", "gemm_gflops", "thread_comparison"]

TOKENS, STEPS_PER_TOKEN, BATCH = 3, 3, 100
SIZES = {"sequence size": (6, 256, 10), "10x network": (60, 2560, 100)}  # channels, hidden, outputs
ELEMENTWISE_PER_NEURON = 8  # LIF update, threshold test, adaptation and reset: operations per neuron-step


def _per_step_us(
    call: Callable[[], Any],
    steps: int,
    repeats: int = 5,
    calls: int = 5,
    clock: Callable[[], float] = time.process_time,
) -> float:
    call()  # warm-up: allocations, buffers, compilation
    best = float("inf")
    for _ in range(repeats):
        started = clock()
        for _ in range(calls):
            call()
        best = min(best, (clock() - started) / calls)
    return 1e6 * best / steps


def gemm_gflops(m: int = 512, k: int = 512, n: int = 512, repeats: int = 5) -> float:
    """Measured single-precision GEMM rate (GFLOP/s) of an (m, k) x (k, n) product; 512^3 is the arithmetic
    ceiling, the circuit's own hidden-current product (steps * batch, 3 * channels) x (.., hidden) is thin
    in k and reaches less."""
    a, b = torch.rand(m, k), torch.rand(k, n)
    seconds = _per_step_us(lambda: a @ b, steps=1, repeats=repeats) / 1e6
    return 2.0 * m * k * n / seconds / 1e9


def flops_per_step(channels: int, hidden: int, outputs: int, learn: bool) -> float:
    """Arithmetic of one simulated step of our circuit (batch ``BATCH``), averaged over the presentation.

    Hidden currents 2·B·(3·channels)·H; hidden LIF ``ELEMENTWISE_PER_NEURON``·B·H; in the decision window
    (1/3 of the steps) the readout 2·B·H·O; learning adds the presynaptic trace (2·B·H every step) and, in
    the window, two STDP products (2·2·O·B·H) and the soft-bounded update (~8·O·H)."""
    decision_share = 1.0 / TOKENS
    flops = 2.0 * BATCH * 3 * channels * hidden + ELEMENTWISE_PER_NEURON * BATCH * hidden
    flops += decision_share * (2.0 * BATCH * hidden * outputs + ELEMENTWISE_PER_NEURON * BATCH * outputs)
    if learn:
        flops += 2.0 * BATCH * hidden + decision_share * (4.0 * outputs * BATCH * hidden + 8.0 * outputs * hidden)
    return flops


def _gym(channels: int, hidden: int, outputs: int, compiled: bool = False) -> NeuroGym:
    delays = tuple(range(0, TOKENS * STEPS_PER_TOKEN, STEPS_PER_TOKEN))
    config = CircuitConfig(channels, hidden, outputs, num_time_steps=STEPS_PER_TOKEN, input_delays=delays)
    circuit = Circuit(config, seed=0, compiled=compiled)
    generator = torch.Generator().manual_seed(0)
    tokens = (torch.rand(BATCH, TOKENS, channels, generator=generator) < 0.3).float().numpy()
    labels = torch.randint(0, outputs, (BATCH,), generator=generator).numpy()
    return NeuroGym(circuit, {"inputs": tokens, "labels": labels, "num_classes": outputs})


def _first_call_s(call: Callable[[], Any]) -> dict[str, float]:
    """Wall and CPU seconds of a first call (with ``compiled``, mostly compilation, partly in worker
    processes, which only the wall time sees)."""
    _, wall, cpu = measure(call)
    return {"wall_s": wall, "cpu_s": cpu}


def _ours(channels: int, hidden: int, outputs: int, compiled: bool) -> dict[str, Any]:
    gym = _gym(channels, hidden, outputs, compiled)
    steps = gym.train_inputs.shape[1]
    first = {"eval": _first_call_s(gym.evaluate), "train": _first_call_s(gym.train_epoch)}
    return {
        "eval_us_per_step": _per_step_us(gym.evaluate, steps),
        "train_us_per_step": _per_step_us(gym.train_epoch, steps),
        "first_call": first,
    }


def _stepwise(channels: int, hidden: int, outputs: int) -> dict[str, float]:
    """The engine before fusion: the same batch, one operation per equation and step."""
    gym = _gym(channels, hidden, outputs)
    circuit, steps = gym.circuit, gym.train_inputs.shape[1]
    teacher = gym.teacher_pattern
    return {
        "eval_us_per_step": _per_step_us(lambda: circuit.run_stepwise(gym.eval_inputs, gym.decision_steps), steps),
        "train_us_per_step": _per_step_us(
            lambda: circuit.run_stepwise(gym.train_inputs, gym.decision_steps, teacher, gym.desired, learn=True),
            steps,
        ),
    }


def _peer_network(cell: Callable[[], torch.nn.Module], channels: int, hidden: int, outputs: int):
    """Linear -> LIF -> Linear -> LIF built from a peer's cell, inference only, on random input spikes."""
    steps = TOKENS * STEPS_PER_TOKEN
    fc1, fc2 = torch.nn.Linear(3 * channels, hidden), torch.nn.Linear(hidden, outputs)
    lif1, lif2 = cell(), cell()
    x = (torch.rand(steps, BATCH, 3 * channels, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    return fc1, fc2, lif1, lif2, x, steps


def _snntorch(channels: int, hidden: int, outputs: int) -> float:
    import snntorch

    fc1, fc2, lif1, lif2, x, steps = _peer_network(lambda: snntorch.Leaky(beta=0.9), channels, hidden, outputs)

    @torch.no_grad()
    def run() -> None:
        mem1, mem2 = lif1.init_leaky(), lif2.init_leaky()
        for t in range(steps):
            spikes, mem1 = lif1(fc1(x[t]), mem1)
            _, mem2 = lif2(fc2(spikes), mem2)

    return _per_step_us(run, steps)


def _norse(channels: int, hidden: int, outputs: int) -> float:
    from norse.torch import LIFBoxCell

    fc1, fc2, lif1, lif2, x, steps = _peer_network(LIFBoxCell, channels, hidden, outputs)

    @torch.no_grad()
    def run() -> None:
        state1 = state2 = None
        for t in range(steps):
            spikes, state1 = lif1(fc1(x[t]), state1)
            _, state2 = lif2(fc2(spikes), state2)

    return _per_step_us(run, steps)


def _dispatch_us() -> float:
    """CPU microseconds of one operation that does almost no arithmetic (an in-place add of one number):
    the fixed cost every operation pays."""
    one = torch.ones(1)
    return _per_step_us(lambda: [one.add_(one) for _ in range(100)], steps=100)


def _layer_op_us(hidden: int) -> float:
    """CPU microseconds of one same-shape elementwise operation on the hidden layer's (batch, hidden) state
    (``torch.add`` of two such tensors into a third): what each unfused LIF operation costs at this size."""
    a, b, out = torch.rand(BATCH, hidden), torch.rand(BATCH, hidden), torch.empty(BATCH, hidden)
    return _per_step_us(lambda: [torch.add(a, b, out=out) for _ in range(100)], steps=100)


def _profile(channels: int, hidden: int, outputs: int, train: bool, top: int = 10) -> dict[str, Any]:
    """Where an evaluation's (or a training epoch's) time goes, per presentation of the batch: the operations
    with the most self CPU time (calls, median microseconds, share of the profiled time); how many aten calls a
    simulated step makes (nested calls and views included) times the fixed cost of one call (the dispatch
    floor); how many of them work on the hidden layer's (batch, hidden) state times the cost of one such
    elementwise operation (the floor of running the LIF unfused); both against the measured (unprofiled)
    CPU time per step."""
    from torch.profiler import profile

    gym = _gym(channels, hidden, outputs)
    call = gym.train_epoch if train else gym.evaluate
    steps = gym.train_inputs.shape[1]
    measured_us = _per_step_us(call, steps)
    # One profile per presentation and the median per operation: a preemption on this shared machine
    # would otherwise land on whichever operation was running.
    self_us: dict[str, list[float]] = {}
    for _ in range(9):
        with profile(record_shapes=True) as prof:
            call()
        for event in prof.key_averages():
            if event.key.startswith("aten::"):
                self_us.setdefault(event.key, []).append(event.self_cpu_time_total)
    calls = {e.key: e.count for e in prof.key_averages() if e.key.startswith("aten::")}
    by_shape = prof.key_averages(group_by_input_shape=True)
    layer_calls = sum(
        e.count for e in by_shape if e.input_shapes[:1] == [[BATCH, hidden]] and e.key in _computing(calls)
    )
    median = {op: statistics.median(times) for op, times in self_us.items()}
    total, calls_per_step = sum(median.values()), sum(calls.values()) / steps
    dispatch, layer_op = _dispatch_us(), _layer_op_us(hidden)
    rows = sorted(median, key=median.__getitem__, reverse=True)[:top]
    return {
        "top_ops": [
            {"op": op, "calls": calls.get(op, 0), "self_cpu_us": median[op], "share": median[op] / total} for op in rows
        ],
        "aten_calls_per_step": calls_per_step,
        "dispatch_us_per_call": dispatch,
        "dispatch_floor_us_per_step": dispatch * calls_per_step,
        "hidden_layer_ops_per_step": layer_calls / steps,
        "hidden_layer_op_us": layer_op,
        "hidden_layer_unfused_floor_us_per_step": layer_op * layer_calls / steps,
        "measured_us_per_step": measured_us,
        "dispatch_share_of_measured": dispatch * calls_per_step / measured_us,
    }


def _breakdown(channels: int, hidden: int, outputs: int) -> dict[str, dict[str, float]]:
    """Unprofiled CPU microseconds per simulated step of each part of an evaluation and a training epoch:
    the hidden currents (two matrix products), the hidden LIF time loop, the readout (with STDP in
    training) and the rest (``NeuroGym``'s inputs, teacher, homeostasis and the evaluation's metrics).
    The profiler's own timings are wall-clock and inflate matrix products several times on this CPU build,
    so these are what the shares should be read against."""
    gym = _gym(channels, hidden, outputs)
    teacher = gym.teacher_pattern * gym.teacher_strength(0)
    return {
        "eval": _parts(gym, gym.evaluate, gym.eval_inputs, None, None),
        "train": _parts(gym, gym.train_epoch, gym.train_inputs, teacher, gym.desired),
    }


def _parts(
    gym: NeuroGym, call: Callable[[], Any], inputs: torch.Tensor, teacher: Any, desired: Any
) -> dict[str, float]:
    engine, steps, learn = gym.circuit.engine, inputs.shape[1], teacher is not None
    buf = engine._buffers_for(BATCH, steps, torch.nonzero(gym.decision_steps).flatten().tolist())
    total = _per_step_us(call, steps)
    currents = _per_step_us(lambda: hidden_currents(inputs, buf.delayed_traces, gym.circuit.input_weights), steps)
    layer = _per_step_us(lambda: engine.hidden_layer(inputs, buf), steps)
    raster = engine.hidden_layer(inputs, buf).clone()
    readout = _per_step_us(lambda: engine.readout(raster, buf, teacher, desired, learn), steps)
    return {
        "total": total,
        "hidden_currents": currents,
        "hidden_lif_loop": layer - currents,
        "readout": readout,
        "rest": total - layer - readout,
    }


def _computing(ops: dict[str, Any]) -> set[str]:
    return {op for op in ops if op not in _VIEWS}


# Calls that launch no arithmetic: views and allocations.
_VIEWS = frozenset(
    "aten::" + name
    for name in [
        *("select", "as_strided", "view", "unbind", "transpose", "permute", "expand", "slice", "reshape"),
        *("_reshape_alias", "numpy_T", "resolve_conj", "resolve_neg", "empty", "empty_strided", "empty_like"),
        *("detach", "alias", "unsqueeze", "squeeze"),
    ]
)


def _size_row(name: str, sizes: tuple[int, int, int], gflops: float, with_compiled: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"layers": f"{3 * sizes[0]} -> {sizes[1]} -> {sizes[2]}, batch {BATCH}"}
    network_gflops = gemm_gflops(TOKENS * STEPS_PER_TOKEN * BATCH, 3 * sizes[0], sizes[1])
    row["network_gemm_gflops_measured"] = network_gflops
    for phase, learn in (("eval", False), ("train", True)):
        flops = flops_per_step(*sizes, learn=learn)
        row[f"{phase}_flops_per_step"] = flops
        row[f"{phase}_bound_us_per_step"] = flops / gflops / 1e3
        row[f"{phase}_bound_at_network_gemm_us_per_step"] = flops / network_gflops / 1e3
    row["ours_fused"] = _ours(*sizes, compiled=False)
    if with_compiled:
        row["ours_fused_compiled"] = _ours(*sizes, compiled=True)
    row["ours_stepwise_before_fusion"] = _stepwise(*sizes)
    for engine in [k for k in row if k.startswith("ours_")]:
        for phase in ("eval", "train"):
            us = row[engine][f"{phase}_us_per_step"]
            row[engine][f"{phase}_x_bound"] = us / row[f"{phase}_bound_us_per_step"]
            row[engine][f"{phase}_x_bound_at_network_gemm"] = us / row[f"{phase}_bound_at_network_gemm_us_per_step"]
    for peer, timer in (("snntorch_Leaky", _snntorch), ("norse_LIFBoxCell", _norse)):
        module = peer.split("_")[0]
        if importlib.util.find_spec(module) is None:
            row[peer] = "not installed (pip install 'neuro_gym[peers]' -c constraints.txt)"
            continue
        us = timer(*sizes)
        row[peer] = {"eval_us_per_step": us, "ours_eval_faster_x": us / row["ours_fused"]["eval_us_per_step"]}
    return row


def engine_comparison(with_compiled: bool = True, profile: bool = True) -> dict[str, Any]:
    """Per-step CPU microseconds of our engines and the peers, against the FLOP bound, at both sizes."""
    gflops = gemm_gflops()
    out: dict[str, Any] = {
        "gemm_gflops_measured": gflops,
        "how": "CPU time per simulated step (time.process_time, fastest of 5 repeats of 5 presentations); FLOP "
        "bound = FLOPs per step / measured 512^3 GEMM GFLOP/s (the *_at_network_gemm bound uses the rate of the "
        "circuit's own hidden-current GEMM shape instead); peers run the same layers inference-only (their "
        "LIF has no adaptive threshold, winner-take-all, traces, delay lines or learning)",
        "threads": torch.get_num_threads(),
    }
    for name, sizes in SIZES.items():
        # Compiled only at the sequence size: each shape costs seconds of compilation.
        out[name] = _size_row(name, sizes, gflops, with_compiled and name == "sequence size")
    if profile:  # per presentation of the 100 samples (9 steps), fused engine, eager
        out["sequence size"]["profile_of_an_evaluation"] = _profile(*SIZES["sequence size"], train=False)
        out["sequence size"]["profile_of_a_training_epoch"] = _profile(*SIZES["sequence size"], train=True)
        out["sequence size"]["cpu_us_per_step_by_part"] = _breakdown(*SIZES["sequence size"])
    seq = out["sequence size"]
    ours = seq["ours_fused"]
    peers = [seq[p]["ours_eval_faster_x"] for p in ("snntorch_Leaky", "norse_LIFBoxCell") if isinstance(seq[p], dict)]
    out["issue_targets"] = _targets(ours, peers)  # against the 512^3 bound, the stricter one
    if "ours_fused_compiled" in seq and len(peers) == 2:
        compiled = seq["ours_fused_compiled"]
        faster = [
            seq[p]["eval_us_per_step"] / compiled["eval_us_per_step"] for p in ("snntorch_Leaky", "norse_LIFBoxCell")
        ]
        out["issue_targets_compiled"] = _targets(compiled, faster)
    out["threads_wall"] = thread_comparison()
    return out


def thread_comparison(threads: tuple[int, ...] = (1, 2), rounds: int = 3) -> dict[str, Any]:
    """Wall microseconds per simulated step of the fused engine at the sequence size with each torch thread
    count (the fastest over ``rounds`` alternating rounds), and which count is faster: the evidence for the
    CLI's ``--threads`` default."""
    before = torch.get_num_threads()
    gym = _gym(*SIZES["sequence size"])
    steps = gym.train_inputs.shape[1]
    best: dict[str, dict[str, float]] = {str(n): {"eval": float("inf"), "train": float("inf")} for n in threads}
    try:
        for _ in range(rounds):
            for n in threads:
                torch.set_num_threads(n)
                for phase, call in (("eval", gym.evaluate), ("train", gym.train_epoch)):
                    us = _per_step_us(call, steps, repeats=3, clock=time.perf_counter)
                    best[str(n)][phase] = min(best[str(n)][phase], us)
    finally:
        torch.set_num_threads(before)
    out: dict[str, Any] = {f"{n}_threads_{phase}_us_per_step": best[n][phase] for n in best for phase in best[n]}
    out["faster_threads"] = int(min(best, key=lambda n: best[n]["eval"] + best[n]["train"]))
    return out


def _targets(ours: dict[str, Any], faster_than_peers: list[float]) -> dict[str, Any]:
    return {
        "ours_at_least_2x_faster_than_each_peer": (min(faster_than_peers) >= 2.0) if faster_than_peers else None,
        "eval_within_3x_bound": ours["eval_x_bound"] <= 3.0,
        "train_within_5x_bound": ours["train_x_bound"] <= 5.0,
    }
