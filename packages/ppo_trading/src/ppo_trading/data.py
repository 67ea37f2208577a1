"""OHLC bars: loading and validating user CSVs, and a deterministic synthetic XAUUSDm generator."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ppo_trading.timestamps import bar_spacing, large_gaps, parse_timestamps
from trainkit import DataError, atomic_write

__all__ = [
    "BARS_PER_YEAR",
    "BOUNDS",
    "COLUMNS",
    "JUMP_LOG_RETURN",
    "POINT",
    "data_sha256",
    "data_warnings",
    "generate_synthetic_xauusd",
    "load_ohlc",
    "write_ohlc_csv",
]

# Exness "XAUUSDm" quotes gold with 3 decimals, so one point is 0.001 USD/oz and a spread of 190 points
# is 0.19 USD/oz. The original scripts used 0.01 and so charged ten times the real spread.
POINT = 0.001
# 15-minute bars, ~92 a day, 5 days a week (what the original feed shows).
BARS_PER_YEAR = 23_600
COLUMNS = ("time", "open", "high", "low", "close", "spread", "volume")

_TIME_NAMES = ("time", "datetime", "date_time", "timestamp", "gmt time", "local time", "date")
_VOLUME_NAMES = ("volume", "tickvol", "tick_volume", "vol", "real_volume")
_KNOWN = {*_TIME_NAMES, *_VOLUME_NAMES, "open", "high", "low", "close", "spread"}
_SEPARATORS = (",", ";", "\t")
_CLOCK = r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*$"
# Sane magnitudes, checked on every row before any work: a price outside them is a unit or export error
# (1e-200 or 1e200 overflow the features), a spread of 1e9 points or more is no quote, and volume counts.
BOUNDS = {"price": (1e-8, 1e9), "spread": (0.0, 1e9), "volume": (0.0, 1e15)}
# A bar whose close (or open) is more than e^0.5 (x1.65 or x0.61) from the close before is reported by row:
# 15-minute gold moves well under 1% a bar and a daily stock's worst crash days are below this.
JUMP_LOG_RETURN = 0.5


def _fail(path: str | os.PathLike[str], row: int | None, rule: str) -> DataError:
    where = f"{path}: row {row}: " if row is not None else f"{path}: "
    return DataError(where + rule)


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        for line in handle:
            if line.strip():
                return line.rstrip("\r\n")
    raise _fail(path, None, "the file is empty")


def _headerless_names(first: list[str]) -> list[str]:
    """MetaTrader (date, time, OHLC, [tickvol, vol,] spread) or one timestamp column, then OHLC and extras."""
    split_clock = len(first) > 1 and pd.Series([first[1]]).str.match(_CLOCK).iloc[0]
    base = ["date", "time"] if split_clock else ["time"]
    base += ["open", "high", "low", "close"]
    extras = {0: [], 1: ["volume"], 2: ["volume", "spread"], 3: ["tickvol", "vol", "spread"]}
    count = len(first) - len(base)
    if count not in extras:
        raise DataError(
            f"headerless file with {len(first)} columns: expected time (or date, time), OHLC and 0-3 extras"
        )
    return base + extras[count]


def _refuse_nul(path: Path, data: bytes, first: str) -> None:
    """A NUL byte hides a column name or a value from pandas (a header's ``vol\\x00ume`` silently zeroed the
    volume): refuse, naming the line and, in the first line, the field."""
    at = data.find(b"\x00")
    if at < 0:
        return
    line = data.count(b"\n", 0, at) + 1
    field = next((f for f in first.split(max(_SEPARATORS, key=first.count)) if "\x00" in f), None)
    what = f"column name {field!r}" if line == 1 and field is not None else "a value"
    raise _fail(path, line, f"{what} contains a NUL byte; re-export the file as plain text")


def _read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """The raw table as strings, with lower-case names, and the file line of its first data row."""
    try:
        line = _first_line(path)
    except UnicodeDecodeError:
        raise _fail(path, None, "not a readable CSV (not UTF-8 text)") from None
    data = path.read_bytes()
    _refuse_nul(path, data, line)
    sep = max(_SEPARATORS, key=line.count)
    fields = [f.strip().strip('"').lower().lstrip("<").rstrip(">") for f in line.split(sep)]
    header = any(f in _KNOWN for f in fields)
    duplicated = sorted({f for f in fields if fields.count(f) > 1 and f})
    if header and duplicated:
        raise _fail(path, 1, f"duplicate column(s) {duplicated} in the header; keep one of each")
    try:
        # Parsed from memory: pandas' C reader turns a read() interrupted by Ctrl-C into a ParserError, which
        # would be reported as "not a readable CSV"; Python's read_bytes retries and raises KeyboardInterrupt.
        raw = pd.read_csv(io.BytesIO(data), sep=sep, header=0 if header else None, dtype=str,
                          skipinitialspace=True, encoding="utf-8-sig", skip_blank_lines=True)  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(path, None, f"not a readable CSV ({first[:160]})") from None
    if header:
        raw.columns = [str(c).strip().lower().lstrip("<").rstrip(">") for c in raw.columns]
    else:
        try:
            raw.columns = _headerless_names(fields)
        except DataError as exc:
            raise _fail(path, None, str(exc)) from None
    return raw, 2 if header else 1


def load_ohlc(path: str | os.PathLike[str], date_format: str = "auto") -> pd.DataFrame:
    """Read an OHLC file into the columns of :data:`COLUMNS` and validate it.

    Comma, semicolon or tab separated, with or without a header. Column names are matched
    case-insensitively (MetaTrader's ``<OPEN>`` too); the time comes from one time/date/datetime
    column or from separate date and time columns. Volume (or tick volume) and spread are optional:
    volume 0 when absent; ``df.attrs["has_spread"]`` says whether the file quoted a spread (in points).
    Any broken rule raises a one-line :class:`DataError` naming the file, the row and the rule.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, None, "no such file")
    raw, first_line = _read_table(path)
    columns = set(raw.columns)
    missing = [c for c in ("open", "high", "low", "close") if c not in columns]
    if missing:
        raise _fail(path, None, f"missing column(s) {missing}; found {sorted(columns)}")
    if "date" in columns and "time" in columns:
        stamps = raw["date"].astype(str).str.strip() + " " + raw["time"].astype(str).str.strip()
    else:
        name = next((n for n in _TIME_NAMES if n in columns), None)
        if name is None:
            raise _fail(path, None, f"no time column (looked for {list(_TIME_NAMES)}); found {sorted(columns)}")
        stamps = raw[name]
    if len(raw) < 2:
        raise _fail(path, None, f"needs at least 2 bars, found {len(raw)}")

    out = pd.DataFrame({"time": parse_timestamps(stamps, str(path), date_format, first_line)})
    volume = next((n for n in _VOLUME_NAMES if n in columns), None)
    sources = {"open": "open", "high": "high", "low": "low", "close": "close", "spread": "spread", "volume": volume}
    for name, source in sources.items():
        if source is None or source not in columns:
            out[name] = 0.0
            continue
        values = pd.to_numeric(raw[source], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if bad.size:
            row = int(bad[0]) + first_line
            raise _fail(path, row, f"{name} is missing or not a number ({raw[source].iloc[bad[0]]!r})")
        out[name] = values.astype(float)
    _validate(out, path, first_line)
    out.attrs["has_spread"] = "spread" in columns
    out.attrs["first_line"] = first_line
    return out


def _validate(df: pd.DataFrame, path: str | os.PathLike[str], first_line: int) -> None:
    prices = df[["open", "high", "low", "close"]].to_numpy()
    (p_low, p_high), (_, s_high), (_, v_high) = BOUNDS["price"], BOUNDS["spread"], BOUNDS["volume"]
    spread, volume = df["spread"].to_numpy(), df["volume"].to_numpy()
    rules = [
        (~np.isfinite(prices).all(axis=1), "prices must be finite"),
        ((prices <= 0).any(axis=1), "prices must be positive"),
        (((prices < p_low) | (prices > p_high)).any(axis=1), f"prices must lie in [{p_low:g}, {p_high:g}]"),
        (~np.isfinite(spread), "spread must be finite"),
        (spread < 0, "spread must be >= 0"),
        (spread >= s_high, f"spread must be below {s_high:g} points"),
        (~np.isfinite(volume), "volume must be finite"),
        (volume < 0, "volume must be >= 0"),
        (volume > v_high, f"volume must be at most {v_high:g}"),
        (df["high"].to_numpy() < np.maximum(df["open"], df["close"]).to_numpy(), "high must be >= max(open, close)"),
        (df["low"].to_numpy() > np.minimum(df["open"], df["close"]).to_numpy(), "low must be <= min(open, close)"),
    ]
    steps = df["time"].diff().dt.total_seconds().to_numpy()[1:]
    rules.append((np.concatenate([[False], steps <= 0]), "timestamps must be sorted and unique"))
    for broken, rule in rules:
        bad = np.flatnonzero(broken)
        if bad.size:
            column = rule.split()[0]
            value = df[column if column in df else "close"].iloc[bad[0]] if column != "timestamps" else None
            shown = "" if value is None or column == "prices" else f" (got {float(value):g})"
            raise _fail(path, int(bad[0]) + first_line, rule + shown)
    if np.ptp(prices) == 0:
        rule = f"every price of all {len(df)} bars is {prices[0, 0]:g}: constant prices, nothing to learn"
        raise _fail(path, None, rule)


def data_warnings(df: pd.DataFrame, path: str | os.PathLike[str]) -> list[str]:
    """One line per suspicious bar that the rules let through: a jump beyond :data:`JUMP_LOG_RETURN` (a bad
    tick?) or a gap in the timestamps longer than a weekend or holiday (missing data). Rows are file lines."""
    first_line = int(df.attrs.get("first_line", 2))
    close = df["close"].to_numpy(float)
    jumps = np.maximum(np.abs(np.diff(np.log(close))), np.abs(np.log(df["open"].to_numpy(float)[1:] / close[:-1])))
    lines, rows, gaps = [], np.flatnonzero(jumps > JUMP_LOG_RETURN) + 1, large_gaps(df["time"])
    for i in rows[:3]:
        lines.append(
            f"warning: {path}: row {i + first_line}: the price jumps x{np.exp(jumps[i - 1]):.3g} in one bar "
            f"(|log return| {jumps[i - 1]:.2f} > {JUMP_LOG_RETURN}; close {close[i - 1]:g} -> {close[i]:g}); "
            "a bad tick? it is kept"
        )
    _, median, cap = bar_spacing(df["time"])
    for i, gap in gaps[:3]:
        lines.append(
            f"warning: {path}: row {i + first_line}: a gap of {gap / 86_400:.1f} days after {df['time'].iloc[i - 1]} "
            f"(median bar spacing {median / 60:g} min, gaps above {cap / 86_400:g} days are missing data); bars per "
            "year count it as one median step"
        )
    extra = max(len(rows) - 3, 0) + max(len(gaps) - 3, 0)
    if extra > 0:
        lines.append(f"warning: {path}: {extra} more such rows")
    return lines


def data_sha256(df: pd.DataFrame) -> str:
    """A hash of the bar values (not of the file's formatting): the same bars give the same hash."""
    digest = hashlib.sha256()
    digest.update(df["time"].to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    for name in ("open", "high", "low", "close", "spread", "volume"):
        digest.update(np.ascontiguousarray(df[name].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def _trading_times(n_bars: int, start: pd.Timestamp) -> pd.DatetimeIndex:
    """15-minute stamps from Sunday 23:00 to Friday 22:00 UTC, with a daily break 21:00-22:00."""
    candidates = pd.date_range(start, periods=int(n_bars * 1.6) + 1000, freq="15min")
    dow, hour = candidates.day_of_week.to_numpy(), candidates.hour.to_numpy()
    open_market = ~((dow == 5) | ((dow == 6) & (hour < 23)) | ((dow == 4) & (hour >= 22)) | (hour == 21))
    return candidates[open_market][:n_bars]


def generate_synthetic_xauusd(n_bars: int, seed: int) -> pd.DataFrame:
    """Deterministic gold-like 15-minute bars in the XAUUSDm schema (same seed, same bars).

    A 3-state Markov regime (up trend, down trend, range) sets drift, volatility and an AR(1)
    coefficient on bar returns (positive in trends, negative in ranges), so there is structure a
    policy can learn. Volatility follows the session (Asia quiet, London/New York busy); OHLC come
    from 15 sub-steps per bar so the OHLC rules hold; spread (points) widens at the daily rollover.
    """
    if n_bars < 2:
        raise ValueError(f"n_bars must be >= 2, got {n_bars}")
    rng = np.random.Generator(np.random.PCG64(seed))
    times = _trading_times(n_bars, pd.Timestamp("2023-01-01 23:00:00"))
    hours = times.hour.to_numpy() + times.minute.to_numpy() / 60.0

    persistence = 0.997
    transition = np.full((3, 3), (1 - persistence) / 2) + np.eye(3) * (persistence - (1 - persistence) / 2)
    sigma_bar = 0.15 / np.sqrt(BARS_PER_YEAR)
    drift = np.array([0.12, -0.12, 0.0]) * sigma_bar
    vol_scale = np.array([1.0, 1.1, 0.8])
    ar_coef = np.array([0.12, 0.12, -0.15])
    session = np.where(hours < 7, 0.6, np.where(hours < 12, 1.0, np.where(hours < 17, 1.4, 0.9)))

    regime = np.empty(n_bars, dtype=np.int64)
    regime[0] = rng.integers(3)
    draws = rng.random(n_bars)
    cumulative = transition.cumsum(axis=1)
    for t in range(1, n_bars):
        regime[t] = min(int(np.searchsorted(cumulative[regime[t - 1]], draws[t])), 2)

    shocks = rng.standard_normal(n_bars)
    returns = np.empty(n_bars)
    previous = 0.0
    for t in range(n_bars):
        k = regime[t]
        previous = drift[k] + ar_coef[k] * previous + sigma_bar * vol_scale[k] * session[t] * shocks[t]
        returns[t] = previous

    sub_steps = 15
    noise = rng.standard_normal((n_bars, sub_steps))
    noise -= noise.mean(axis=1, keepdims=True)
    noise /= np.sqrt(sub_steps)
    path_returns = returns[:, None] / sub_steps + noise * (sigma_bar * session[:, None] * 0.5)
    path_returns -= (path_returns.sum(axis=1) - returns)[:, None] / sub_steps
    open_log = np.log(1900.0) + np.concatenate([[0.0], np.cumsum(returns)[:-1]])
    paths = open_log[:, None] + np.cumsum(path_returns, axis=1)
    open_ = np.round(np.exp(open_log), 3)
    close = np.round(np.exp(paths[:, -1]), 3)
    high = np.maximum(np.round(np.exp(paths.max(axis=1)), 3), np.maximum(open_, close))
    low = np.minimum(np.round(np.exp(paths.min(axis=1)), 3), np.minimum(open_, close))

    rollover = (hours >= 20.5) & (hours < 23.5)
    spread = np.round(rng.uniform(160, 220, n_bars) * np.where(rollover, 2.5, 1.0)).astype(np.int64)
    volume = np.round(session * 400 * (1 + 300 * np.abs(returns)) * rng.lognormal(0, 0.3, n_bars)).astype(np.int64)
    return pd.DataFrame(
        {"time": times, "open": open_, "high": high, "low": low, "close": close, "spread": spread, "volume": volume}
    )


def write_ohlc_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write bars in the XAUUSDm CSV schema (``time,open,high,low,close,spread,volume``) atomically."""
    path = Path(path)
    out = df[list(COLUMNS)].copy()
    out["time"] = out["time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    with atomic_write(path, "w") as handle:
        out.to_csv(handle, index=False, float_format="%.3f", lineterminator="\n")
    return path
