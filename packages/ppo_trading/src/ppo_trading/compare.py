"""Compare two finished runs (``--original DIR --optimized DIR``): a table on stdout and a PNG."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainkit import ConfigError, DataError, run_cli
from trainkit.cli import TrainkitArgumentParser
from trainkit.plotting import new_figure, save_figure

__all__ = ["compare_runs", "main"]

# Settings two runs must share for their times and test scores to be comparable.
MUST_MATCH = (
    "n_envs",
    "n_steps",
    "batch_size",
    "episode_length",
    "gamma",
    "point_size",
    "slippage_points",
    "commission_bps",
)


def _read_run(folder: Path) -> dict[str, Any]:
    try:
        summary = json.loads((folder / "optimization_summary.json").read_text())
        test = json.loads((folder / "test_metrics.json").read_text())
    except FileNotFoundError as exc:
        raise DataError(f"{folder}: not a finished run ({Path(exc.filename).name} missing)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{folder}: unreadable JSON ({exc.msg})") from None
    iteration_s: dict[int, float] = {}
    log = folder / "training_log.csv"
    if log.is_file():
        with open(log, newline="") as handle:
            for row in csv.DictReader(handle):
                iteration_s[int(row["iteration"])] = float(row["iteration_s"])
    return {"summary": summary, "test": test, "iteration_s": [iteration_s[k] for k in sorted(iteration_s)]}


def compare_runs(original_dir: Path, optimized_dir: Path, plot_path: Path) -> str:
    """The comparison table; refuses runs on different data or with a different network/accounting."""
    runs = {"original": _read_run(original_dir), "optimized": _read_run(optimized_dir)}
    a, b = runs["original"]["summary"], runs["optimized"]["summary"]
    if a["data_sha256"] != b["data_sha256"]:
        raise ConfigError("the two runs trained on different data (data_sha256 differs); not comparable")
    differing = [key for key in MUST_MATCH if a["config"].get(key) != b["config"].get(key)]
    if differing:
        raise ConfigError(f"the two runs differ in {differing}; not comparable")
    rows = [
        ("mode", lambda s, t: s["mode"]),
        ("seed", lambda s, t: s["seed"]),
        ("iterations", lambda s, t: s["iterations"]),
        ("env steps", lambda s, t: s["env_steps_total"]),
        ("training wall s", lambda s, t: f"{s['wall_seconds_training']:.1f}"),
        ("avg iteration min", lambda s, t: f"{s['avg_iteration_time_minutes']:.3f}"),
        ("early stops", lambda s, t: s["early_stops"]),
        ("warm starts", lambda s, t: s["warm_starts"]),
        ("test return %", lambda s, t: f"{100 * t['agent']['total_return']:.2f}"),
        ("test Sharpe", lambda s, t: f"{t['agent']['sharpe']:.2f}"),
        ("test max drawdown %", lambda s, t: f"{100 * t['agent']['max_drawdown']:.2f}"),
        ("test trades", lambda s, t: t["agent"]["trades"]),
        ("buy-and-hold return %", lambda s, t: f"{100 * t['baselines']['buy_and_hold']['total_return']:.2f}"),
    ]
    lines = [f"{'':<24}{'original':>14}{'optimized':>14}"]
    for label, cell in rows:
        values = [cell(runs[m]["summary"], runs[m]["test"]) for m in ("original", "optimized")]
        lines.append(f"{label:<24}{values[0]!s:>14}{values[1]!s:>14}")
    wall_ratio = a["wall_seconds_training"] / b["wall_seconds_training"]
    step_ratio = a["env_steps_total"] / b["env_steps_total"]
    lines.append(
        f"training wall ratio (original/optimized): {wall_ratio:.2f}x; env-step ratio: {step_ratio:.2f}x"
        + ("" if a["seed"] == b["seed"] else f" (different seeds {a['seed']} and {b['seed']}; same data)")
    )
    _plot(runs, plot_path)
    lines.append(f"plot: {plot_path}")
    return "\n".join(lines)


def _plot(runs: dict[str, dict[str, Any]], path: Path) -> None:
    fig, axes = new_figure(1, 2, figsize=(11, 4))
    left, right = axes[0]
    for mode, run in runs.items():
        left.plot(run["iteration_s"], marker="o", label=mode)
        equity = run["test"]["equity_curves"]["agent"]
        right.plot([v / equity[0] for v in equity], label=f"{mode} agent")
    bh = runs["original"]["test"]["equity_curves"]["buy_and_hold"]
    right.plot([v / bh[0] for v in bh], label="buy and hold", color="grey", lw=1)
    left.set(xlabel="iteration", ylabel="wall s", title="time per iteration (measured)")
    right.set(xlabel="test bar", ylabel="equity / initial", title="test block")
    left.legend()
    right.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=90)


def _main(argv: Sequence[str] | None) -> int:
    parser = TrainkitArgumentParser(
        prog="compare_training_methods.py", description="Compare an original and an optimized run (same data)."
    )
    parser.add_argument("--original", type=Path, required=True, help="results/<seed> of the original run")
    parser.add_argument("--optimized", type=Path, required=True, help="results/<seed> of the optimized run")
    parser.add_argument("--plot", type=Path, default=None, help="PNG path (default: OPTIMIZED/comparison.png)")
    args = parser.parse_args(argv)
    print(compare_runs(args.original, args.optimized, args.plot or args.optimized / "comparison.png"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv, prog="compare_training_methods.py")
