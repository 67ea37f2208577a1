from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ppo_trading.data import POINT, data_sha256, generate_synthetic_xauusd, load_ohlc, write_ohlc_csv

from trainkit import DataError

GOOD = "time,open,high,low,close,spread,volume\n2024-01-02 00:00:00,2000.1,2001,1999,2000.5,190,10\n"


def test_synthetic_bars_are_deterministic_and_obey_ohlc_rules(tmp_path):
    a = write_ohlc_csv(generate_synthetic_xauusd(3_000, seed=5), tmp_path / "a.csv")
    b = write_ohlc_csv(generate_synthetic_xauusd(3_000, seed=5), tmp_path / "b.csv")
    c = write_ohlc_csv(generate_synthetic_xauusd(3_000, seed=6), tmp_path / "c.csv")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert a.read_text().splitlines()[0] == "time,open,high,low,close,spread,volume"
    df = load_ohlc(a)  # passes every validation rule
    assert len(df) == 3_000
    assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
    assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
    assert df["time"].is_monotonic_increasing and df["time"].is_unique
    assert (df["time"].dt.day_of_week != 5).all()  # no Saturday bars
    spread_usd = df["spread"] * POINT
    assert 0.1 < spread_usd.median() < 0.3  # ~0.19 USD/oz like the XAUUSDm feed


def test_synthetic_volatility_is_gold_like():
    df = generate_synthetic_xauusd(20_000, seed=1)
    annual = np.log(df["close"]).diff().std() * np.sqrt(23_600)
    assert 0.08 < annual < 0.35


@pytest.mark.parametrize(
    "text",
    [
        "Time,Open,High,Low,Close,Volume\n2024-01-02 00:00,2000,2001,1999,2000.5,3\n"
        "2024-01-02 00:15,2000.5,2002,2000,2001,4\n",
        "Date,Time,OPEN,HIGH,LOW,CLOSE\n2024.01.02,00:00,2000,2001,1999,2000.5\n2024.01.02,00:15,2000.5,2002,2000,2001\n",
        "Gmt time,Open,High,Low,Close,Volume\n02.01.2024 00:00:00.000,2000,2001,1999,2000.5,3\n"
        "02.01.2024 00:15:00.000,2000.5,2002,2000,2001,4\n",
        "datetime;open;high;low;close;spread\n2024-01-02T00:00:00Z;2000;2001;1999;2000.5;150\n"
        "2024-01-02T00:15:00Z;2000.5;2002;2000;2001;150\n",
    ],
)
def test_common_layouts_load(tmp_path, text):
    path = tmp_path / "bars.csv"
    path.write_text(text)
    df = load_ohlc(path)
    assert list(df.columns) == ["time", "open", "high", "low", "close", "spread", "volume"]
    assert len(df) == 2
    assert df["time"].iloc[1] - df["time"].iloc[0] == np.timedelta64(15, "m")


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("2024-01-02 00:15:00,2000,1999,1998,2000.5,190,1", "high must be >= max(open, close)"),
        ("2024-01-02 00:15:00,2000,2001,1999,,190,1", "close is missing or not a number"),
        ("2024-01-02 00:15:00,-5,2001,-6,2000,190,1", "prices must be positive"),
        ("2024-01-01 23:45:00,2000,2001,1999,2000.5,190,1", "timestamps must be sorted and unique"),
        ("not-a-date,2000,2001,1999,2000.5,190,1", "unreadable timestamp"),
    ],
)
def test_broken_rows_name_file_row_and_rule(tmp_path, row, rule):
    path = tmp_path / "bad.csv"
    path.write_text(GOOD + row + "\n")
    with pytest.raises(DataError) as caught:
        load_ohlc(path)
    message = str(caught.value)
    assert str(path) in message and "row 3" in message and rule in message
    assert "\n" not in message


def test_missing_columns_and_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_ohlc(tmp_path / "nope.csv")
    path = tmp_path / "cols.csv"
    path.write_text("time,open,close\n2024-01-02,1,1\n2024-01-03,1,1\n")
    with pytest.raises(DataError, match="missing column"):
        load_ohlc(path)


def test_data_hash_follows_values_not_formatting(tmp_path):
    df = generate_synthetic_xauusd(500, seed=2)
    reloaded = load_ohlc(write_ohlc_csv(df, tmp_path / "x.csv"))
    assert data_sha256(reloaded) == data_sha256(load_ohlc(write_ohlc_csv(reloaded, tmp_path / "y.csv")))
    changed = reloaded.copy()
    changed.loc[10, "close"] += 0.001
    changed.loc[10, "high"] = max(changed.loc[10, "high"], changed.loc[10, "close"])
    assert data_sha256(changed) != data_sha256(reloaded)


def test_shipped_csv_is_the_documented_synthetic_generation(tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "data" / "XAUUSDm_15min.csv"
    if not shipped.is_file():
        pytest.skip("data/XAUUSDm_15min.csv is not in this checkout")
    regenerated = write_ohlc_csv(generate_synthetic_xauusd(50_000, seed=2024), tmp_path / "x.csv")
    assert regenerated.read_bytes() == shipped.read_bytes()
