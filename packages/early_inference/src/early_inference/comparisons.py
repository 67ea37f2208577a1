"""The bench's extra comparisons: every method on the same evaluation samples, per prefix length.

"E0 ratio" is a method's E0 MAE over the least-squares fit's; "k_d score" is its k_d RMSE over the prior
sd (1.0 = no information). Coverage is at 1 and 2 sigma per parameter, raw and after the
validation-fitted variance scale; SBC ranks check the optimized arm's whole posterior.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from early_inference.arms import PrefixOutcome
from early_inference.evaluate import GaussianPrediction, parameter_report
from early_inference.peer_runs import PeerRuns, sample_coverage
from early_inference.sbc import sbc_ranks, sbc_summary
from early_inference.simulators import Simulator

__all__ = ["NOMINAL", "compare_all"]

NOMINAL = {k: float(stats.norm.cdf(k) - stats.norm.cdf(-k)) for k in (1, 2)}
SBC_DRAWS = 99


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _cells(sim: Simulator, prediction: GaussianPrediction, truth: np.ndarray) -> dict[str, float]:
    report = parameter_report(sim, prediction, truth)
    out: dict[str, float] = {"nll_mean": report["nll_mean"], "seconds_per_sample": prediction.seconds_per_sample}
    for name in sim.param_names:
        for metric in ("mae", "rmse_over_prior_sd", "nll", "coverage_1sigma", "coverage_2sigma"):
            out[f"{name}_{metric}"] = report[name][metric]
    return out


def _median_cells(rows: Sequence[Mapping[str, float]]) -> dict[str, float | None]:
    return {key: _median([row[key] for row in rows]) for key in rows[0]}


def _learned_arm(sim, outcomes: Sequence[PrefixOutcome], truth) -> dict[str, Any]:
    """Seed medians of the arm's own predictive, plus raw and rescaled coverage and the scale."""
    cells = _median_cells([_cells(sim, o.own, truth) for o in outcomes])
    for label, pick in (("raw", "raw"), ("rescaled", "rescaled")):
        reports = [_cells(sim, getattr(o, pick), truth) for o in outcomes]
        for name in sim.param_names:
            for k in (1, 2):
                cells[f"{label}_{name}_coverage_{k}sigma"] = _median([r[f"{name}_coverage_{k}sigma"] for r in reports])
    for key in outcomes[0].coverage_all_test:  # the whole test split, not only the shared samples
        cells[f"all_test_{key}"] = _median([o.coverage_all_test[key] for o in outcomes])
    for j, name in enumerate(sim.param_names):
        cells[f"variance_scale_{name}"] = _median([float(o.variance_scale[j]) for o in outcomes])
    cells["train_seconds"] = _median([o.train_seconds for o in outcomes])
    cells["optimizer_steps"] = _median([o.optimizer_steps for o in outcomes])
    return cells


def _npe_cells(sim, npe, truth) -> dict[str, Any]:
    if isinstance(npe, str):
        return {"status": npe}
    cells: dict[str, Any] = {"status": "trained", **_cells(sim, npe.prediction, truth)}
    z_truth = sim.to_target(truth)
    for k in (1, 2):
        coverage = sample_coverage(npe.samples, z_truth, k)
        for j, name in enumerate(sim.param_names):
            cells[f"{name}_coverage_{k}sigma"] = float(coverage[j])  # from the draws' quantiles
    cells["train_seconds"] = npe.train_seconds
    cells["epochs"] = npe.epochs
    return cells


def _prefix_table(sim, length, truth, stores, peers: PeerRuns, seeds) -> dict[str, Any]:
    e0, kd = sim.param_names
    table: dict[str, Any] = {}
    for arm, store in stores.items():
        table[arm] = _learned_arm(sim, [store[(s, length)] for s in seeds], truth)
    mlp_runs = [peers.mlp[length][s] for s in seeds]
    table["mlp_on_prefix"] = _median_cells([_cells(sim, r.prediction, truth) for r in mlp_runs])
    table["mlp_on_prefix"]["train_seconds"] = _median([r.train_seconds for r in mlp_runs])
    table["least_squares"] = _cells(sim, peers.least_squares[length], truth)
    table["prior_only"] = _cells(sim, peers.prior[length], truth)
    table["sbi_npe"] = _npe_cells(sim, peers.npe[length], truth)
    fit_mae = table["least_squares"][f"{e0}_mae"]
    for cells in table.values():
        if f"{e0}_mae" in cells:
            cells["e0_ratio"] = cells[f"{e0}_mae"] / fit_mae
            cells["k_d_score"] = cells[f"{kd}_rmse_over_prior_sd"]
    return table


def _sbc(sim, outcomes: Sequence[PrefixOutcome], truth) -> dict[str, Any]:
    z_truth = sim.to_target(truth)
    ranks = np.concatenate(
        [sbc_ranks(o.own.mean, o.own.var, z_truth, SBC_DRAWS, seed=i) for i, o in enumerate(outcomes)]
    )
    return {"n_draws": SBC_DRAWS, "n_ranks": len(ranks), **sbc_summary(ranks, SBC_DRAWS, sim.param_names)}


def _goals(sim, tables: Mapping[str, Mapping[str, Any]], lengths) -> dict[str, Any]:
    """Issue 15's "done means", each checked on the tables (None where a needed column is absent)."""
    names = sim.param_names
    keys = [f"{length:g}" for length in lengths]
    opt = {key: tables[key]["optimized"] for key in keys}
    npe = {key: tables[key]["sbi_npe"] for key in keys}
    have_npe = all(cells.get("status") == "trained" for cells in npe.values())
    coverage = all(
        abs(opt[key][f"rescaled_{name}_coverage_{k}sigma"] - NOMINAL[k]) <= 0.05
        for key in keys
        for name in names
        for k in (1, 2)
    )
    # The same check on the whole test split: with 256 samples one 1 sigma coverage has a binomial sd of ~3 points.
    coverage_all = (
        all(
            abs(opt[key][f"all_test_{name}_coverage_{k}sigma"] - NOMINAL[k]) <= 0.05
            for key in keys
            for name in names
            for k in (1, 2)
        )
        if all("all_test_n" in opt[key] for key in keys)
        else None
    )
    late = [key for key in keys if key in ("60", "300")]
    goals: dict[str, Any] = {
        "e0_ratio_at_most_1.5": all(opt[key]["e0_ratio"] <= 1.5 for key in keys),
        "k_d_score_within_1.25x_fit_at_60_300": all(
            opt[key]["k_d_score"] <= 1.25 * tables[key]["least_squares"]["k_d_score"] for key in late
        ),
        "coverage_within_5_points_rescaled": coverage,
        "coverage_within_5_points_all_test": coverage_all,
        "k_d_score_at_most_npe_at_30": (opt["30"]["k_d_score"] <= npe["30"]["k_d_score"]) if have_npe else None,
        "trains_2x_faster_than_npe": (
            all(opt[key]["train_seconds"] * 2 <= npe[key]["train_seconds"] for key in keys) if have_npe else None
        ),
        "as_accurate_as_npe_at_60_300": (
            all(
                opt[key]["e0_ratio"] <= npe[key]["e0_ratio"] and opt[key]["k_d_score"] <= npe[key]["k_d_score"]
                for key in late
            )
            if have_npe
            else None
        ),
    }
    return goals


def _line(key: str, table: Mapping[str, Any]) -> str:
    def cell(method: str) -> str:
        cells = table.get(method, {})
        if "e0_ratio" not in cells:
            return f"{method} {cells.get('status', 'n/a')}"
        return f"{method} {cells['e0_ratio']:.2f}/{cells['k_d_score']:.2f}"

    methods = [m for m in table if m not in ("least_squares", "prior_only")]
    return f"{key} s: " + ", ".join(cell(m) for m in [*methods, "least_squares", "prior_only"])


def compare_all(
    sim: Simulator,
    lengths: Sequence[float],
    truth: np.ndarray,
    stores: Mapping[str, Mapping[tuple[int, float], PrefixOutcome]],
    peers: PeerRuns,
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Per-prefix tables for every method, SBC of the optimized arm, the goals and a one-line summary."""
    tables = {f"{length:g}": _prefix_table(sim, length, truth, stores, peers, seeds) for length in lengths}
    sbc = {f"{length:g}": _sbc(sim, [stores["optimized"][(s, length)] for s in seeds], truth) for length in lengths}
    goals = _goals(sim, tables, lengths)
    summary = (
        f"E0 ratio / k_d score (E0 MAE over the fit's; k_d RMSE over the prior sd), {len(truth)} shared test "
        "samples, seed medians: " + "; ".join(_line(key, table) for key, table in tables.items())
    )
    return {"per_prefix": tables, "sbc_optimized": sbc, "goals": goals, "summary": summary}
