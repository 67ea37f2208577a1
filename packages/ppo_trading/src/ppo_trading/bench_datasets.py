"""The bench's per-data-set rows: the agent vs buy-and-hold vs SMA crossover, net of costs, with CIs.

One row per data set: the bench's own bars (the optimized arm's runs) and, when those are synthetic, the
shipped real file at the same sizes (the optimized config trained once per seed, outside the timed arms).
Every figure is over the stitched walk-forward out-of-sample bars, through the same accounting.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

from ppo_trading.bench_arms import BenchPreset, arm_config, run_arm
from ppo_trading.bench_extras import degenerate_opponents

__all__ = ["dataset_row", "datasets_comparison", "run_dataset", "seeds_verdict"]


def seeds_verdict(beating: int, seeds: int) -> str:
    """Plain words; "beats" only when most seeds' 95% CIs of the excess lie above 0."""
    head = "beats" if 2 * beating > seeds else "does not beat"
    return f"the agent {head} buy-and-hold net of costs ({beating} of {seeds} seeds' 95% CIs above 0)"


def dataset_row(described: str, opponents: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``runs``: one dict per seed with the optimized run's ``quality`` (excess points) and ``oos_*`` extras."""
    ordered = sorted(runs, key=lambda run: run["quality"])
    middle = ordered[(len(ordered) - 1) // 2]  # the median seed (the lower middle one for an even count)
    beating = sum(run["oos_ci95"][0] > 0 for run in runs)
    hold, sma = opponents["opponents"]["buy_and_hold"], opponents["opponents"]["sma_crossover"]
    return {
        "data": described,
        "bars": hold["bars"],
        "buy_and_hold_log_return_pct": hold["agent_log_return_pct"],
        "agent": {
            "seeds": len(runs),
            "excess_per_seed": [run["quality"] for run in runs],
            "excess_median": statistics.median(run["quality"] for run in runs),
            "median_seed": middle["seed"],
            "median_seed_excess": middle["quality"],
            "median_seed_log_return_pct": middle["oos_agent_log_return_pct"],
            "median_seed_ci95": middle["oos_ci95"],
            "seeds_ci_above_0": beating,
        },
        "sma_crossover": {
            "log_return_pct": sma["agent_log_return_pct"],
            "excess_log_return_pct": sma["excess_log_return_pct"],
            "ci95": sma["ci95"],
            "verdict": sma["verdict"],
        },
        "ci_method": hold["ci_method"],
        "verdict": seeds_verdict(beating, len(runs)),
    }


def run_dataset(
    df: pd.DataFrame,
    data: dict[str, Any],
    described: str,
    preset: BenchPreset,
    seeds: list[int],
    threads: int,
    device: str,
    cache_dir: str,
) -> dict[str, Any]:
    """Train the optimized config on ``df`` once per seed and make its row (untimed: not an arm)."""
    runs = []
    for seed in seeds:
        result = run_arm(df, arm_config("optimized", preset, seed, threads, device, cache_dir, data))
        runs.append({**result.extra, "quality": result.quality, "seed": seed})
    reference = arm_config("optimized", preset, seeds[0], threads, device, cache_dir, data)
    medians = {"optimized": statistics.median(run["quality"] for run in runs)}
    return dataset_row(described, degenerate_opponents(df, reference, medians), runs)


def datasets_comparison(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The bench's ``extra_comparisons.datasets``: the rows and a one-line summary for the report."""
    summary = "; ".join(
        f"{name}: {row['verdict']}, median-seed excess {row['agent']['median_seed_excess']:+.2f} points, SMA "
        f"crossover {row['sma_crossover']['excess_log_return_pct']:+.2f}"
        for name, row in rows.items()
    )
    return {"summary": summary + " (README's first table: python -m ppo_trading report)", "rows": rows}
