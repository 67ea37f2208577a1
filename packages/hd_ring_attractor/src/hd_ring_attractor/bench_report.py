"""The bench's verdicts and plot: trained vs the analytic setting, the optimizer table."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hd_ring_attractor.evaluation import SPEED_TEST_OMEGAS_DEG
from trainkit.harness import Arm, RunResult
from trainkit.plotting import new_figure, save_figure

__all__ = ["optimizer_table", "plot_bench", "versus_analytic"]

# Issue 18's criteria for the trained network against the analytic one on the same ring.
ERROR_RATIO_GOAL = 0.8
SPEED_TOLERANCE = 0.10
SPEED_GOAL_MIN_OMEGA = 15.0


def _seed_criteria(trained: Mapping[str, Any], analytic: Mapping[str, Any]) -> dict[str, Any]:
    speeds = trained["speed_over_omega"]
    near_one = all(
        abs(ratio - 1) <= SPEED_TOLERANCE for omega, ratio in speeds.items() if float(omega) >= SPEED_GOAL_MIN_OMEGA
    )
    return {
        "error_ratio": trained["mean_error_deg"] / analytic["mean_error_deg"],
        "drift_not_worse": trained["drift_deg_per_s"] <= analytic["drift_deg_per_s"],
        "noiseless_drift_not_worse": trained["drift_noiseless_deg_per_s"] <= analytic["drift_noiseless_deg_per_s"],
        "speed_within_10pct_from_15": near_one,
    }


def versus_analytic(finished: Mapping[str, list[RunResult]], rivals: Mapping[int, Any]) -> dict[str, Any]:
    """Per arm: issue 18's criteria against the analytic network of the same seed, and how many seeds meet them."""
    by_arm: dict[str, Any] = {}
    for arm, runs in finished.items():
        seeds = [_seed_criteria(r.extra["test"], rivals[r.seed]["analytic_zhang"]) for r in runs]
        ratio = statistics.median(s["error_ratio"] for s in seeds)
        speeds = {
            f"{omega:g}": statistics.median(r.extra["test"]["speed_over_omega"][f"{omega:g}"] for r in runs)
            for omega in SPEED_TEST_OMEGAS_DEG
        }
        by_arm[arm] = {
            "median_error_ratio": ratio,
            "seeds_error_ratio_at_most_0.8": sum(s["error_ratio"] <= ERROR_RATIO_GOAL for s in seeds),
            "seeds_drift_not_worse": sum(s["drift_not_worse"] for s in seeds),
            "seeds_noiseless_drift_not_worse": sum(s["noiseless_drift_not_worse"] for s in seeds),
            "seeds_speed_within_10pct_from_15": sum(s["speed_within_10pct_from_15"] for s in seeds),
            "median_speed_over_omega": speeds,
            "median_drift_deg_per_s": statistics.median(r.extra["test"]["drift_deg_per_s"] for r in runs),
            "by_seed": seeds,
        }
    analytic_speed = {
        f"{omega:g}": statistics.median(v["analytic_zhang"]["speed_over_omega"][f"{omega:g}"] for v in rivals.values())
        for omega in SPEED_TEST_OMEGAS_DEG
    }
    analytic_drift = statistics.median(v["analytic_zhang"]["drift_deg_per_s"] for v in rivals.values())
    opt = by_arm.get("optimized")
    summary = "no optimized runs"
    if opt is not None:
        n = len(finished["optimized"])
        summary = (
            f"optimized vs analytic g_av = 1 on the same perturbed rings ({n} seeds): median test-error ratio "
            f"{opt['median_error_ratio']:.2f} (goal <= {ERROR_RATIO_GOAL}; "
            f"met on {opt['seeds_error_ratio_at_most_0.8']}"
            f"/{n}); drift {opt['median_drift_deg_per_s']:.2f} vs {analytic_drift:.2f} deg/s (not worse on "
            f"{opt['seeds_drift_not_worse']}/{n}); speed/omega "
            + ", ".join(
                f"{k}: {v:.2f} (analytic {analytic_speed[k]:.2f})" for k, v in opt["median_speed_over_omega"].items()
            )
            + f"; within 10% for omega >= 15 on {opt['seeds_speed_within_10pct_from_15']}/{n} seeds"
        )
    return {
        "summary": summary,
        "by_arm": by_arm,
        "analytic_median_speed_over_omega": analytic_speed,
        "analytic_median_drift_deg_per_s": analytic_drift,
    }


def optimizer_table(finished: Mapping[str, list[RunResult]], arms: Mapping[str, Arm], n_seeds: int) -> dict[str, Any]:
    """Every arm's searched rate and test error; the headline names the winner and its margin, whatever it is."""
    rows = {}
    for name, runs in finished.items():
        errors = {r.seed: float(r.quality) for r in runs if r.quality is not None}
        rows[name] = {
            "learning_rate": arms[name].hyperparameters["learning_rate"].value,
            "median_test_error_deg": statistics.median(errors.values()),
            "test_error_by_seed": errors,
        }
    ranked = sorted(rows, key=lambda name: rows[name]["median_test_error_deg"])
    best, runner = ranked[0], ranked[1] if len(ranked) > 1 else None

    def common(other: str) -> list[int]:  # the SGD arms may run on fewer seeds than the headline pair
        return [s for s in rows[best]["test_error_by_seed"] if s in rows[other]["test_error_by_seed"]]

    wins = {
        other: (
            sum(rows[best]["test_error_by_seed"][s] < rows[other]["test_error_by_seed"][s] for s in common(other)),
            len(common(other)),
        )
        for other in ranked[1:]
    }
    headline = f"{best} has the lowest median test error, {rows[best]['median_test_error_deg']:.2f} deg"
    if runner is not None:
        margin = rows[runner]["median_test_error_deg"] - rows[best]["median_test_error_deg"]
        headline += (
            f", {margin:.2f} deg below the next ({runner}, {rows[runner]['median_test_error_deg']:.2f} deg); "
            + "; ".join(f"better than {o} on {w}/{n} seeds" for o, (w, n) in wins.items())
        )
    return {"summary": headline, "ranking": ranked, "rows": rows, "seeds": n_seeds}


def plot_bench(doc: dict[str, Any], out: Path) -> list[Path]:
    """Validation curves, test errors against the opponents, and speed/omega against the analytic ring."""
    fig, axes = new_figure(1, 3, figsize=(14, 4))
    curves, errors, speeds = axes[0]
    names = list(doc["modes"])
    for index, name in enumerate(names):
        color = f"C{index}"
        for k, run in enumerate(doc["modes"][name]["runs"]):
            values = run["extra"]["val_error_deg"]
            curves.plot(range(1, len(values) + 1), values, color=color, alpha=0.7, label=name if k == 0 else None)
            errors.scatter([index], [run["quality"]], color=color)
    rivals = doc["extra_comparisons"]["opponents"]["by_seed"]
    for label, key, style in (
        ("analytic g_av = 1", "analytic_zhang", "--"),
        ("g_av = 0", "untrained_no_velocity_coupling", ":"),
    ):
        level = statistics.median(v[key]["mean_error_deg"] for v in rivals.values())
        errors.axhline(level, color="grey", linestyle=style, label=f"{label} (median)")
    curves.set(xlabel="epoch", ylabel="validation mean |error| (deg)", yscale="log", title="training, every seed")
    curves.legend(fontsize=7)
    errors.set_xticks(range(len(names)), names, rotation=20, fontsize=7)
    errors.set(ylabel="test mean |error| (deg)", yscale="log", title="test error per seed")
    errors.legend(fontsize=7)
    versus = doc["extra_comparisons"]["trained_vs_analytic"]
    omegas = list(SPEED_TEST_OMEGAS_DEG)
    for name, row in versus["by_arm"].items():
        speeds.plot(omegas, [row["median_speed_over_omega"][f"{o:g}"] for o in omegas], marker="o", label=name)
    analytic = versus["analytic_median_speed_over_omega"]
    speeds.plot(omegas, [analytic[f"{o:g}"] for o in omegas], "k--", marker="x", label="analytic g_av = 1")
    speeds.axhspan(0.9, 1.1, color="grey", alpha=0.15)
    speeds.set(
        xscale="log", xlabel="omega (deg/s)", ylabel="bump speed / omega (median over seeds)", title="speed/omega"
    )
    speeds.legend(fontsize=7)
    return [save_figure(fig, out / "hd_ring_attractor_benchmark.png")]
