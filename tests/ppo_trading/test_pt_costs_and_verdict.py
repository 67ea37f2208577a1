"""Instrument-aware costs, the bootstrap CI and the plain verdict, and any-file runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ppo_trading import train_ppo_optimized
from ppo_trading.bench import PRESETS, bench_data
from ppo_trading.data import generate_synthetic_xauusd, load_ohlc
from ppo_trading.instruments import resolve_costs
from ppo_trading.reporting import block_bootstrap_ci, compare_to_buy_and_hold, equity_stats

from trainkit import DataError


def _bars(n: int, scale: float = 1.0) -> pd.DataFrame:
    df = generate_synthetic_xauusd(n, seed=7)
    for column in ("open", "high", "low", "close"):
        df[column] = df[column] * scale
    return df


def test_instrument_defaults_flags_and_the_price_scale_warning():
    gold = _bars(50)
    _, costs = resolve_costs(gold, "XAUUSDm_15min.csv")
    assert (costs.instrument, costs.point, costs.spread_source, costs.warning) == ("xauusd", 0.001, "file", None)
    eurusd = _bars(50, 1.1 / 1900)
    eurusd.attrs["has_spread"] = False
    filled, costs = resolve_costs(eurusd, "EURUSD_H1.csv")
    assert costs.instrument == "fx" and costs.point == 1e-5 and costs.spread_source == "instrument default"
    assert (filled["spread"] == 10.0).all() and costs.warning is None
    # the case: gold's point on FX; with gold's default spread that is a 17% spread, refused
    with pytest.raises(DataError, match="check --instrument/--point_size"):
        resolve_costs(eurusd, "EURUSD_H1.csv", instrument="xauusd")
    _, wrong = resolve_costs(eurusd, "EURUSD_H1.csv", instrument="xauusd", spread_points=1)
    assert wrong.warning is not None and "--point_size" in wrong.warning
    _, flagged = resolve_costs(gold, "x.csv", "xauusd", point_size=0.01, spread_points=3, slippage_points=0,
                               commission_bps=2)  # fmt: skip
    assert (flagged.point, flagged.slippage_points, flagged.commission_bps) == (0.01, 0, 2)
    assert flagged.spread_source == "--spread_points"


def test_block_bootstrap_ci_covers_the_sum_and_separates_a_clear_edge():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, 2_000)
    low, high, block = block_bootstrap_ci(noise, seed=1)
    assert low < noise.sum() < high and block == 45
    edge = compare_to_buy_and_hold(noise * 1e-3 + 5e-4, noise * 1e-3, seed=1)
    assert edge["ci95"][0] > 0 and edge["verdict"] == "beats buy-and-hold net of costs"
    same = compare_to_buy_and_hold(noise * 1e-3, noise * 1e-3 + rng.normal(0, 1e-3, 2_000), seed=1)
    assert same["verdict"].startswith("does not beat")


def test_equity_stats_turnover_and_drawdown():
    stats = equity_stats([100.0, 110.0, 99.0, 120.0], [1, -1, -1])
    assert stats["max_drawdown"] == pytest.approx(0.1)
    assert stats["turnover_per_bar"] == pytest.approx((1 + 2 + 0) / 3)


def _write_daily_epoch(path, n):
    df = _bars(n)
    df["time"] = pd.bdate_range("2015-01-01", periods=n)
    epoch = (df["time"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    rows = [f"{t},{o},{h},{lo},{c}" for t, o, h, lo, c in zip(epoch, df.open, df.high, df.low, df.close)]
    path.write_text("\n".join(rows) + "\n")  # headerless, epoch seconds, no volume or spread
    return path


def test_a_small_daily_epoch_file_trains_end_to_end_and_reports_a_verdict(tmp_path, capsys):
    csv = _write_daily_epoch(tmp_path / "SPY_daily.csv", 1_200)
    # the costs are named: never guessed from "SPY" in the name
    argv = ["--data_path", str(csv), "--preset", "ci", "--seed", "1", "--results_dir", str(tmp_path / "r"),
            "--total_timesteps", "256", "--min_timesteps", "256", "--eval_freq", "256",
            "--instrument", "equity"]  # fmt: skip
    assert train_ppo_optimized.main(argv) == 0
    out = capsys.readouterr().out
    assert "verdict: the agent" in out and "buy-and-hold net of costs" in out
    summary = json.loads((tmp_path / "r" / "1" / "optimization_summary.json").read_text())
    assert 250 < summary["bars_per_year"] < 265  # business days, not 15-minute bars
    assert summary["config"]["point_size"] == 0.01 and summary["config"]["commission_bps"] == 1.0
    oos = summary["walk_forward_out_of_sample"]
    segments = summary["iterations"] + 1  # each validation window and the test block: one bar opens each
    assert oos["bars_covered"][1] == 1_200 and oos["bars"] == oos["bars_covered"][1] - oos["bars_covered"][0] - segments
    assert oos["verdict"] in summary["verdict"] and len(oos["ci95"]) == 2
    assert {"max_drawdown", "turnover_per_bar"} <= set(oos)


def _write_format(path, n, layout):
    df = _bars(n, 1.1 / 1900 if layout == "dukascopy_eurusd" else 1.0)
    df["time"] = pd.date_range("2017-01-02 00:00", periods=n, freq="h")
    ohlc = [f"{o:.5f},{h:.5f},{lo:.5f},{c:.5f}" for o, h, lo, c in zip(df.open, df.high, df.low, df.close)]
    if layout == "dukascopy_eurusd":
        stamps = df["time"].dt.strftime("%d.%m.%Y %H:%M:%S.000")
        lines = ["Gmt time,Open,High,Low,Close,Volume"] + [f"{t},{r},1" for t, r in zip(stamps, ohlc)]
    else:  # MetaTrader 4 export: headerless, date and time columns, tick volume
        stamps = df["time"].dt.strftime("%Y.%m.%d,%H:%M")
        lines = [f"{t},{r},5" for t, r in zip(stamps, ohlc)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("layout", ["dukascopy_eurusd", "metatrader_xauusd"])
def test_hourly_trader_exports_train_with_their_own_costs(tmp_path, capsys, layout):
    csv = _write_format(tmp_path / f"{layout}.csv", 1_500, layout)
    argv = ["--data_path", str(csv), "--preset", "ci", "--seed", "1", "--results_dir", str(tmp_path / "r"),
            "--total_timesteps", "256", "--min_timesteps", "256", "--eval_freq", "256", "--verbose", "0"]  # fmt: skip
    assert train_ppo_optimized.main(argv) == 0
    assert capsys.readouterr().err == ""  # no price-scale warning: the point suits the prices
    summary = json.loads((tmp_path / "r" / "1" / "optimization_summary.json").read_text())
    assert summary["bars_per_year"] == pytest.approx(24 * 365.25, rel=0.01)
    assert summary["config"]["point_size"] == (1e-5 if layout == "dukascopy_eurusd" else 1e-3)
    buy_and_hold = summary["baseline_metrics"]["buy_and_hold"]
    assert buy_and_hold["costs_paid"] > 0 and summary["test_vs_buy_and_hold"]["verdict"]


REAL = Path(__file__).resolve().parents[2] / "data" / "gym_anytrading"


def test_shipped_real_files_parse_to_the_right_dates():
    eurusd = load_ohlc(REAL / "FOREX_EURUSD_1H_ASK.csv")  # day-first dotted, decided from the whole column
    assert len(eurusd) == 6_225
    assert (
        str(eurusd["time"].iloc[0]) == "2017-01-01 22:00:00" and str(eurusd["time"].iloc[-1]) == "2017-12-29 21:00:00"
    )
    googl = load_ohlc(REAL / "STOCKS_GOOGL.csv")
    assert len(googl) == 2_335 and str(googl["time"].iloc[0]) == "2009-05-22 00:00:00"
    df, data, described = bench_data(PRESETS["real"])
    assert len(df) == 1_400 and data["point_size"] == 1e-5 and 6_000 < data["bars_per_year"] < 6_500
    assert "fx" in described and (df["spread"] == 10.0).all()  # the file has no spread: the FX default
