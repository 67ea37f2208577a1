"""The README's per-data-set table: rows from the bench's runs, written from a benchmark.json between markers."""

from __future__ import annotations

import json

import pytest
from ppo_trading.bench_datasets import dataset_row, datasets_comparison
from ppo_trading.cli import main as package_main
from ppo_trading.datasets_report import END, START

CI = "circular block bootstrap of per-bar differences, block 26, 2000 samples"


def _opponents(hold: float, sma_excess: float) -> dict:
    def row(agent: float, ci: list[float]) -> dict:
        return {"bars": 696, "agent_log_return_pct": agent, "excess_log_return_pct": agent - hold, "ci95": ci,
                "ci_method": CI, "verdict": "does not beat buy-and-hold net of costs (CI includes 0)"}  # fmt: skip

    return {"opponents": {"buy_and_hold": row(hold, [0.0, 0.0]), "sma_crossover": row(hold + sma_excess, [-3.5, 5.5])}}


def _runs(excess: list[float], lows: list[float]) -> list[dict]:
    return [
        {"seed": seed, "quality": x, "oos_ci95": [low, low + 6], "oos_agent_log_return_pct": 0.28 + x}
        for seed, (x, low) in enumerate(zip(excess, lows))
    ]


def test_a_row_takes_the_median_seed_and_beats_only_when_most_seed_cis_are_above_zero():
    row = dataset_row("synthetic bars", _opponents(0.28, 1.02), _runs([0.5, -1.0, 2.0, 0.1, 3.0], [-3, -5, 0.2, -4, 1]))
    agent = row["agent"]
    assert agent["median_seed"] == 0 and agent["median_seed_excess"] == 0.5 and agent["median_seed_ci95"] == [-3, 3]
    assert agent["median_seed_log_return_pct"] == pytest.approx(0.78) and agent["excess_median"] == 0.5
    assert agent["seeds_ci_above_0"] == 2 and row["verdict"].startswith("the agent does not beat")
    assert row["bars"] == 696 and row["buy_and_hold_log_return_pct"] == 0.28
    assert row["sma_crossover"]["excess_log_return_pct"] == pytest.approx(1.02)
    most = dataset_row("x", _opponents(0.28, 1.02), _runs([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, -1, -1]))
    assert most["verdict"] == "the agent beats buy-and-hold net of costs (3 of 5 seeds' 95% CIs above 0)"
    even = dataset_row("x", _opponents(0.0, 0.0), _runs([4.0, 1.0], [1.0, -2.0]))  # the lower middle seed
    assert even["agent"]["median_seed"] == 1 and even["agent"]["median_seed_excess"] == 1.0
    assert even["agent"]["excess_median"] == 2.5 and even["verdict"].startswith("the agent does not beat")


def _fixture(tmp_path):
    doc = {
        "command": "python -m ppo_trading bench --preset quick --out reports/bench/ppo_trading",
        "created_utc": "2026-11-29 17:00 UTC",
        "extra_comparisons": {
            "datasets": datasets_comparison(
                {
                    "synthetic": dataset_row(
                        "generate_synthetic_xauusd(1400, seed=2024)",
                        _opponents(0.28, 1.02),
                        _runs([0.56, -1.0, 2.0, 0.1, 3.0], [-2.45, -5, 0.2, -4, 1]),
                    ),
                    "real": dataset_row(
                        "the last 1400 bars of FOREX_EURUSD_1H_ASK.csv",
                        _opponents(-1.25, -0.4),
                        _runs([-2.5, -0.75, -3.0, 0.25, -1.0], [-9, -7, -10, -6, -8]),
                    ),
                }
            )
        },
    }
    bench = tmp_path / "benchmark.json"
    bench.write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    readme.write_text(f"# pkg\n\nintro\n\n{START}\nold table\n{END}\n\n## rest\nkept\n")
    return bench, readme


def test_report_rewrites_only_the_marked_block_from_the_json(tmp_path):
    bench, readme = _fixture(tmp_path)
    assert package_main(["report", "--bench", str(bench), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# pkg\n\nintro\n\n" + START) and text.endswith(END + "\n\n## rest\nkept\n")
    assert "old table" not in text and f"`{bench.as_posix()}`" in text
    rows = [line for line in text.splitlines() if line.startswith("| synthetic") or line.startswith("| real")]
    assert rows[0] == ("| synthetic gold (the bench's bars) | 696 | +0.28% | +0.84% | +0.56 [-2.45, +3.55] | 2 of 5 | "
                       "+1.30% | +1.02 [-3.50, +5.50] | no |")  # fmt: skip
    assert (
        rows[1].startswith("| real hourly EURUSD") and "| -1.25% | -0.72% | -1.00 [-8.00, -2.00] | 0 of 5 |" in rows[1]
    )
    assert "- real hourly EURUSD (`--preset real`'s file): the agent does not beat buy-and-hold" in text
    assert package_main(["report", "--bench", str(bench), "--readme", str(readme)]) == 0
    assert readme.read_text() == text  # idempotent


@pytest.mark.parametrize("broken", ["no_datasets", "not_json", "no_markers", "malformed_row"])
def test_a_bad_json_or_readme_is_one_line_exit_2_and_the_readme_is_untouched(tmp_path, capsys, broken):
    bench, readme = _fixture(tmp_path)
    doc = json.loads(bench.read_text())
    if broken == "no_datasets":
        bench.write_text(json.dumps({**doc, "extra_comparisons": {}}))
    elif broken == "not_json":
        bench.write_text("{not json")
    elif broken == "malformed_row":
        del doc["extra_comparisons"]["datasets"]["rows"]["real"]["agent"]
        bench.write_text(json.dumps(doc))
    else:
        readme.write_text("# pkg without markers\n")
    before = readme.read_text()
    assert package_main(["report", "--bench", str(bench), "--readme", str(readme)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert readme.read_text() == before


def test_the_comparison_summary_names_each_data_sets_verdict(tmp_path):
    bench, _ = _fixture(tmp_path)
    summary = json.loads(bench.read_text())["extra_comparisons"]["datasets"]["summary"]
    assert summary.startswith("synthetic: the agent does not beat buy-and-hold net of costs (2 of 5")
    assert "real: the agent does not beat" in summary and "median-seed excess -1.00 points" in summary
