from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ppo_trading.data import POINT, data_sha256, generate_synthetic_xauusd, load_ohlc, write_ohlc_csv
from ppo_trading.timestamps import bars_per_year

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


ROWS = ("2000,2001,1999,2000.5", "2000.5,2002,2000,2001")
LAYOUTS = {
    # name: (file text, the timestamps it must parse to)
    "iso_header": ("Time,Open,High,Low,Close,Volume\n2024-01-02 00:00,{0},3\n2024-01-02 00:15,{1},4\n",
                   ["2024-01-02 00:00", "2024-01-02 00:15"]),
    "dukascopy_day_first": ("Gmt time,Open,High,Low,Close,Volume\n02.01.2017 10:00:00.000,{0},3\n"
                            "13.01.2017 10:00:00.000,{1},4\n", ["2017-01-02 10:00", "2017-01-13 10:00"]),
    "month_first_slash": ("Date,Open,High,Low,Close\n01/02/2024,{0}\n01/13/2024,{1}\n",
                          ["2024-01-02 00:00", "2024-01-13 00:00"]),
    "metatrader_header": ("Date,Time,OPEN,HIGH,LOW,CLOSE\n2024.01.02,00:00,{0}\n2024.01.02,00:15,{1}\n",
                          ["2024-01-02 00:00", "2024-01-02 00:15"]),
    "metatrader_headerless": ("2024.01.02,10:00,{0},7\n2024.01.02,11:00,{1},8\n",
                              ["2024-01-02 10:00", "2024-01-02 11:00"]),
    "metatrader5_tab": ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
                        "2024.03.04\t10:00:00\t{0}\t5\t0\t12\n2024.03.04\t11:00:00\t{1}\t6\t0\t12\n",
                        ["2024-03-04 10:00", "2024-03-04 11:00"]),
    "epoch_seconds_semicolon": ("timestamp;open;high;low;close\n1704189600;{0}\n1704193200;{1}\n",
                                ["2024-01-02 10:00", "2024-01-02 11:00"]),
    "epoch_ms_headerless": ("1704189600000,{0}\n1704193200000,{1}\n", ["2024-01-02 10:00", "2024-01-02 11:00"]),
    "iso_utc_semicolon": ("datetime;open;high;low;close;spread\n2024-01-02T00:00:00Z;{0};150\n"
                          "2024-01-02T00:15:00Z;{1};150\n", ["2024-01-02 00:00", "2024-01-02 00:15"]),
}  # fmt: skip


def _write(tmp_path: Path, text: str) -> Path:
    sep = ";" if "timestamp;" in text or "datetime;" in text else "\t" if "<DATE>" in text else ","
    path = tmp_path / "bars.csv"
    path.write_text(text.format(*(row.replace(",", sep) for row in ROWS)))
    return path


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_common_layouts_parse_to_the_right_dates(tmp_path, name):
    text, expected = LAYOUTS[name]
    df = load_ohlc(_write(tmp_path, text))
    assert list(df.columns) == ["time", "open", "high", "low", "close", "spread", "volume"]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in df["time"]] == expected
    assert df["close"].tolist() == [2000.5, 2001.0]
    assert df.attrs["has_spread"] == ("spread" in text.lower())


def test_metatrader5_tick_volume_and_spread_are_read(tmp_path):
    df = load_ohlc(_write(tmp_path, LAYOUTS["metatrader5_tab"][0]))
    assert df["volume"].tolist() == [5.0, 6.0] and df["spread"].tolist() == [12.0, 12.0]


def test_ambiguous_dates_stop_with_an_error_naming_the_flag(tmp_path):
    path = tmp_path / "amb.csv"
    path.write_text("Date,Open,High,Low,Close\n02.01.2024,2000,2001,1999,2000.5\n03.01.2024,2000,2001,1999,2000\n")
    with pytest.raises(DataError) as caught:
        load_ohlc(path)
    assert "--date_format" in str(caught.value) and "\n" not in str(caught.value)
    day_first = load_ohlc(path, date_format="dayfirst")
    assert [t.strftime("%Y-%m-%d") for t in day_first["time"]] == ["2024-01-02", "2024-01-03"]
    month_first = load_ohlc(path, date_format="monthfirst")
    assert [t.strftime("%Y-%m-%d") for t in month_first["time"]] == ["2024-02-01", "2024-03-01"]
    explicit = load_ohlc(path, date_format="%d.%m.%Y")
    assert explicit["time"].tolist() == day_first["time"].tolist()


def test_bars_per_year_come_from_the_timestamps():
    hourly_fx = pd.Series(pd.date_range("2024-01-01", periods=24 * 365, freq="h"))
    weekdays = hourly_fx[hourly_fx.dt.day_of_week < 5].reset_index(drop=True)
    assert bars_per_year(weekdays) == pytest.approx(24 * 261, rel=0.01)
    daily = pd.Series(pd.bdate_range("2020-01-01", "2023-12-31"))
    assert bars_per_year(daily) == pytest.approx(261, rel=0.01)
    assert bars_per_year(generate_synthetic_xauusd(5_000, seed=1)["time"]) == pytest.approx(23_600, rel=0.05)


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
