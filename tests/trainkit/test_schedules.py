import itertools
import math

import pytest
import torch

from trainkit import EvalCadence, Phase, PhaseSchedule, WarmupCosine, WarmupThenPlateau, geometric_budget


def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


def test_warmup_then_plateau_ramps_linearly_then_reduces_on_plateau():
    opt = _optimizer(1.0)
    sched = WarmupThenPlateau(opt, warmup_epochs=4, factor=0.5, patience=1, min_lr=0.2)
    seen = []
    for loss in [9, 9, 9, 9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        seen.append(_lr(opt))
        opt.step()
        sched.step(loss)
    assert seen[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert seen[0] > 0
    # After warmup the loss stalls at 1.0: halve after each `patience` epochs, never below min_lr.
    assert min(seen) >= 0.2 and seen[-1] == pytest.approx(0.25)
    assert 0.5 in [pytest.approx(x) for x in seen[5:]]


def test_warmup_then_plateau_ignores_loss_during_warmup():
    opt = _optimizer(1.0)
    sched = WarmupThenPlateau(opt, warmup_epochs=3, factor=0.1, patience=0)
    opt.step()
    sched.step(float("inf"))
    sched.step(100.0)
    assert _lr(opt) == pytest.approx(1.0)


def test_warmup_then_plateau_resume_gives_identical_lrs():
    losses = [5, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2]

    def run(split: int | None):
        opt = _optimizer(1.0)
        sched = WarmupThenPlateau(opt, warmup_epochs=3, factor=0.5, patience=1, min_lr=1e-3)
        lrs = []
        for epoch, loss in enumerate(losses):
            if epoch == split:
                state = {"opt": opt.state_dict(), "sched": sched.state_dict()}
                opt = _optimizer(1.0)
                sched = WarmupThenPlateau(opt, warmup_epochs=3, factor=0.5, patience=1, min_lr=1e-3)
                opt.load_state_dict(state["opt"])
                sched.load_state_dict(state["sched"])
            lrs.append(_lr(opt))
            opt.step()
            sched.step(loss)
        return lrs

    straight = run(None)
    assert run(2) == straight
    assert run(7) == straight


def test_warmup_cosine_shape_and_floor():
    opt = _optimizer(1.0)
    sched = WarmupCosine(opt, warmup_epochs=2, max_epochs=12, min_lr=0.1)
    lrs = []
    for _ in range(14):
        lrs.append(_lr(opt))
        opt.step()
        sched.step()
    assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert lrs[7] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[12] == pytest.approx(0.1) and lrs[13] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(lrs[1:]))


def test_warmup_cosine_state_dict_resumes_the_schedule():
    opt = _optimizer(1.0)
    sched = WarmupCosine(opt, warmup_epochs=1, max_epochs=10, min_lr=0.0)
    for _ in range(4):
        opt.step()
        sched.step()
    state, expected = sched.state_dict(), _lr(opt)
    opt2 = _optimizer(1.0)
    sched2 = WarmupCosine(opt2, warmup_epochs=1, max_epochs=10, min_lr=0.0)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = expected
    opt.step()
    opt2.step()
    sched.step()
    sched2.step()
    assert _lr(opt2) == pytest.approx(_lr(opt))


def test_geometric_budget():
    assert [geometric_budget(50_000, 0.95, 15_000, i) for i in (0, 1, 10, 100)] == [50_000, 47_500, 29_937, 15_000]
    with pytest.raises(ValueError):
        geometric_budget(1, 0.5, 1, -1)


def test_phase_schedule_maps_progress_and_checks_state():
    sched = PhaseSchedule([Phase("fast", 0.3, {"lr": 3e-3}), Phase("fine", 1.0, {"lr": 5e-4})])
    assert sched.at(0.0) == {"lr": 3e-3}
    assert sched.at(0.29)["lr"] == 3e-3 and sched.at(0.3)["lr"] == 5e-4 and sched.at(1.5)["lr"] == 5e-4
    sched.at(0.0)["lr"] = 1
    assert sched.at(0.0) == {"lr": 3e-3}
    sched.load_state_dict(sched.state_dict())
    with pytest.raises(ValueError, match="different phase schedule"):
        PhaseSchedule([Phase("only", 1.0, {})]).load_state_dict(sched.state_dict())
    with pytest.raises(ValueError):
        PhaseSchedule([Phase("a", 0.5), Phase("b", 0.4)])


def test_eval_cadence():
    cadence = EvalCadence(every=5, always_first=10)
    evaluated = [e for e in range(1, 31) if cadence.should_evaluate(e)]
    assert evaluated == [*range(1, 11), 15, 20, 25, 30]
    assert cadence.should_evaluate(23, is_last=True)
    other = EvalCadence(every=1, always_first=0)
    other.load_state_dict(cadence.state_dict())
    assert other.every == 5 and other.always_first == 10
