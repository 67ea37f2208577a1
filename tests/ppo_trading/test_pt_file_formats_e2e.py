"""The issue's "done means" files, each through the installed console script ``train-ppo-optimized --preset ci``.

A day-first hourly file (the shipped Dukascopy-style EURUSD), a MetaTrader export (date and time in
separate columns, no header), a daily file of 1,000-3,000 bars (the shipped GOOGL) and an epoch-seconds
file. Each run must parse the dates right (checked against an independent parse of the file's text),
train end to end and report buy-and-hold net of costs and a verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from ppo_trading.data import generate_synthetic_xauusd

REAL = Path(__file__).resolve().parents[2] / "data" / "gym_anytrading"
CI_MAX_BARS = 4_000  # presets.PRESETS["ci"].max_bars: the CLI reads the first 4,000 bars of a longer file


def _script() -> str:
    """The console script installed next to this interpreter (the venv's bin/), else the one on PATH."""
    beside = Path(sys.executable).with_name("train-ppo-optimized")
    found = str(beside) if beside.is_file() else shutil.which("train-ppo-optimized")
    assert found, "the train-ppo-optimized console script is not installed"
    return found


def _real_rows(name: str, time_format: str) -> pd.DataFrame:
    """A shipped file's rows with times parsed by strptime and the file's own format, not by load_ohlc."""
    raw = pd.read_csv(REAL / name, dtype=str)
    times = [datetime.strptime(text, time_format) for text in raw.iloc[:, 0]]
    return raw.assign(time=pd.to_datetime(times))


def _day_first_hourly(tmp: Path) -> tuple[Path, pd.Series]:
    rows = _real_rows("FOREX_EURUSD_1H_ASK.csv", "%d.%m.%Y %H:%M:%S.%f")
    return REAL / "FOREX_EURUSD_1H_ASK.csv", rows["time"]


def _daily(tmp: Path) -> tuple[Path, pd.Series]:
    rows = _real_rows("STOCKS_GOOGL.csv", "%Y-%m-%d")
    return REAL / "STOCKS_GOOGL.csv", rows["time"]


def _metatrader(tmp: Path) -> tuple[Path, pd.Series]:
    """MetaTrader 4's history export: ``2024.01.02,10:00,open,high,low,close,volume``, no header."""
    bars = generate_synthetic_xauusd(2_000, seed=7)
    lines = [
        f"{t:%Y.%m.%d},{t:%H:%M},{o:.3f},{h:.3f},{lo:.3f},{c:.3f},{v:.0f}"
        for t, o, h, lo, c, v in bars[["time", "open", "high", "low", "close", "volume"]].itertuples(index=False)
    ]
    path = tmp / "XAUUSDm_M15_metatrader.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, bars["time"]


def _epoch_seconds(tmp: Path) -> tuple[Path, pd.Series]:
    """The last 2,000 EURUSD hours with epoch-second timestamps, semicolon separated."""
    rows = _real_rows("FOREX_EURUSD_1H_ASK.csv", "%d.%m.%Y %H:%M:%S.%f").iloc[-2_000:].reset_index(drop=True)
    epoch = (rows["time"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    text = "timestamp;open;high;low;close;volume\n" + "".join(
        f"{e};{o};{h};{lo};{c};{v}\n"
        for e, o, h, lo, c, v in zip(epoch, rows["Open"], rows["High"], rows["Low"], rows["Close"], rows["Volume"])
    )
    path = tmp / "EURUSD_H1_epoch.csv"
    path.write_text(text)
    return path, rows["time"]


# name -> (file maker, bars per year its timestamps must give, roughly)
FILES = {
    "metatrader_export": (_metatrader, 23_600),
    "day_first_hourly": (_day_first_hourly, 6_200),
    "daily_2335_bars": (_daily, 252),
    "epoch_seconds": (_epoch_seconds, 6_200),
}


DEFAULT_RUN = ("metatrader_export", "daily_2335_bars")  # ~10 s each; the two hourly EURUSD files are slow-marked


@pytest.mark.parametrize("name", [n if n in DEFAULT_RUN else pytest.param(n, marks=pytest.mark.slow) for n in FILES])
def test_each_traders_file_trains_end_to_end_through_the_console_script(tmp_path, name):
    make, bars_per_year = FILES[name]
    path, times = make(tmp_path)
    results = tmp_path / "results"
    env = {**os.environ, "PPO_TRADING_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [_script(), "--data_path", str(path), "--preset", "ci", "--seed", "3", "--results_dir", str(results)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((results / "3" / "optimization_summary.json").read_text())

    used = times.iloc[:CI_MAX_BARS].reset_index(drop=True)
    span = summary["data_span"]
    test_start, test_end = summary["test_block"]
    assert span["bars"] == len(used)
    assert span["first"] == f"{used.iloc[0]:%Y-%m-%d %H:%M:%S}" and span["last"] == f"{used.iloc[-1]:%Y-%m-%d %H:%M:%S}"
    assert span["test_first"] == f"{used.iloc[test_start]:%Y-%m-%d %H:%M:%S}"
    assert span["test_last"] == f"{used.iloc[test_end - 1]:%Y-%m-%d %H:%M:%S}"
    assert summary["bars_per_year"] == pytest.approx(bars_per_year, rel=0.1)  # Sharpe annualised from the file

    # Buy-and-hold over the same bars, through the same accounting: it pays costs, and the excess is net of them.
    hold = summary["baseline_metrics"]["buy_and_hold"]
    assert hold["costs_paid"] > 0 and hold["trades"] >= 1
    oos = summary["walk_forward_out_of_sample"]
    assert oos["excess_log_return_pct"] == pytest.approx(
        oos["agent_log_return_pct"] - oos["buy_and_hold_log_return_pct"], abs=1e-6
    )
    low, high = oos["ci95"]
    assert low <= high and oos["verdict"].startswith(("beats", "does not beat"))
    assert "buy-and-hold net of costs" in summary["verdict"]
    assert "verdict: the agent" in done.stdout and "buy-and-hold net of costs" in done.stdout
