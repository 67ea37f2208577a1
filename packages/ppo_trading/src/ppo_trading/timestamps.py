"""Timestamps from any trader's file: ISO, day-first or month-first, MetaTrader dotted, epoch s/ms.

Day-first vs month-first is decided from the whole column, never row by row: a day above 12 in the
first field means day-first, in the second field month-first. A column where neither happens is
ambiguous and stops the run with an error naming ``--date_format``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from trainkit import DataError, validate

__all__ = ["DATE_FORMATS", "bar_spacing", "bars_per_year", "date_format", "large_gaps", "parse_timestamps"]

# --date_format choices; any other value containing "%" is a strftime format.
DATE_FORMATS = ("auto", "iso", "dayfirst", "monthfirst", "epoch_s", "epoch_ms")
_DATE = r"^\s*(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})(.*)$"
_EPOCH = r"^\s*\d{9,13}(\.\d*)?\s*$"
# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 1e11
# A UTC offset (or Z) right after a clock time: "10:00:00+05:00", "10:00Z", "10:00 -0500".
_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$"
# A gap between two bars longer than max(GAP_FLOOR_DAYS, GAP_MEDIANS x the median spacing) is not a
# weekend or a holiday but missing data: it is reported, and bars per year do not count it.
GAP_FLOOR_DAYS = 4.0
GAP_MEDIANS = 10.0


def date_format(value: str) -> str:
    """``--date_format``: a name from DATE_FORMATS or a strftime format that round-trips (checked before any work)."""
    if value in DATE_FORMATS:
        return value
    if "%" not in value:
        raise validate.ValidationError(
            f"must be one of {list(DATE_FORMATS)} or a strftime format with '%', got {value!r}"
        )
    try:
        sample = datetime(2001, 2, 3, 4, 5, 6)
        datetime.strptime(sample.strftime(value), value)
    except ValueError as exc:
        raise validate.ValidationError(f"not a usable strftime format {value!r} ({exc})") from None
    return value


def _fail(where: str, rule: str) -> DataError:
    return DataError(f"{where}: {rule}")


def _epoch(text: pd.Series, unit: str | None) -> pd.Series:
    values = pd.to_numeric(text, errors="coerce")
    if unit is None:
        unit = "ms" if values.abs().max() > _MS_THRESHOLD else "s"
    return pd.to_datetime(values, unit=unit, errors="coerce")


def _reorder(text: pd.Series, where: str, order: str, first_line: int) -> pd.Series:
    """Rewrite ``a.b.c rest`` dates to ISO ``YYYY-MM-DD rest``; ``order`` auto decides from the column."""
    parts = text.str.extract(_DATE)
    if parts[0].isna().any():
        bad = int(np.flatnonzero(parts[0].isna().to_numpy())[0])
        raise _fail(where, f"row {bad + first_line}: unreadable timestamp {text.iloc[bad]!r}")
    first, second, third, rest = parts[0], parts[1], parts[2], parts[3].fillna("")
    if (first.str.len() == 4).all():  # year first: ISO and MetaTrader's 2024.01.02
        year, month, day = first, second, third
    else:
        if not (third.str.len() == 4).all():
            raise _fail(where, "dates need a 4-digit year first or last; set --date_format to a strftime format")
        a, b = first.astype(int), second.astype(int)
        if order == "auto":
            day_first, month_first = bool((a > 12).any()), bool((b > 12).any())
            if day_first == month_first:
                reason = "both fields exceed 12 somewhere" if day_first else "no day above 12 decides it"
                raise _fail(
                    where,
                    f"day-first or month-first dates? the column is ambiguous ({reason}); "
                    "pass --date_format dayfirst or --date_format monthfirst",
                )
            order = "dayfirst" if day_first else "monthfirst"
        day, month = (first, second) if order == "dayfirst" else (second, first)
        year = third
    iso = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + rest.str.replace(r"^[ T]+", " ", regex=True)
    return pd.to_datetime(iso.str.strip(), format="ISO8601", errors="coerce", utc=True)


def _check_offsets(text: pd.Series, where: str, first_line: int) -> None:
    """Some rows with a UTC offset and some without cannot be put on one clock: refuse, naming both kinds."""
    offset = text.str.extract(_OFFSET, expand=False)
    has = offset.notna().to_numpy()
    if has.any() and not has.all():
        naive, aware = int(np.flatnonzero(~has)[0]), int(np.flatnonzero(has)[0])
        raise _fail(
            where,
            f"mixed timezones: row {aware + first_line} has UTC offset {offset.iloc[aware]!r} "
            f"({text.iloc[aware]!r}) but row {naive + first_line} has none ({text.iloc[naive]!r}); "
            "export every timestamp with an offset or none",
        )


def parse_timestamps(text: pd.Series, where: str, date_format: str = "auto", first_line: int = 2) -> pd.Series:
    """Naive UTC timestamps for ``text``; errors name ``where`` (the file) and the line (row 0 is ``first_line``)."""
    text = text.astype(str).str.strip()
    if date_format not in ("epoch_s", "epoch_ms"):
        _check_offsets(text, where, first_line)
    if date_format in ("epoch_s", "epoch_ms"):
        parsed = _epoch(text, date_format.removeprefix("epoch_"))
    elif "%" in date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
    elif date_format == "auto" and text.str.match(_EPOCH).all():
        parsed = _epoch(text, None)
    elif date_format in ("auto", "dayfirst", "monthfirst", "iso"):
        parsed = _reorder(text, where, "auto" if date_format == "iso" else date_format, first_line)
    else:
        raise _fail(where, f"--date_format must be one of {list(DATE_FORMATS)} or a strftime format with '%'")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        hint = "" if date_format != "auto" else "; set --date_format"
        raise _fail(where, f"row {int(bad[0]) + first_line}: unreadable timestamp {text.iloc[bad[0]]!r}{hint}")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def bar_spacing(times: pd.Series) -> tuple[np.ndarray, float, float]:
    """Seconds between consecutive bars, their median, and the longest step still counted as the calendar
    (a weekend or a holiday): max(GAP_FLOOR_DAYS, GAP_MEDIANS x the median)."""
    steps = pd.to_datetime(times).diff().dt.total_seconds().to_numpy()[1:]
    if steps.size == 0 or not (steps > 0).any():
        raise DataError("bars per year need at least two distinct timestamps")
    median = float(np.median(steps))
    return steps, median, max(GAP_FLOOR_DAYS * 86_400, GAP_MEDIANS * median)


def large_gaps(times: pd.Series) -> list[tuple[int, float]]:
    """``(index of the bar after the gap, gap in seconds)`` for every gap longer than :func:`bar_spacing`'s cap."""
    steps, _, cap = bar_spacing(times)
    return [(int(i) + 1, float(steps[i])) for i in np.flatnonzero(steps > cap)]


def bars_per_year(times: pd.Series) -> float:
    """Bars per calendar year as the file shows them: (bars - 1) / the span in years, gaps capped.

    Counting bars over the span takes the trading sessions, weekends and holidays of this
    instrument into account (~23,600 for 15-minute gold, ~252 for daily equities, ~6,200 for hourly FX).
    A gap longer than max(4 days, 10 x the median spacing) is missing data, not a session break: it
    counts as one median step, so a 5-year hole in 15-minute bars does not make them look like daily ones.
    """
    steps, median, cap = bar_spacing(times)
    span_years = float(np.where(steps > cap, median, steps).sum()) / (365.25 * 86_400)
    if span_years <= 0:
        raise DataError("bars per year need at least two distinct timestamps")
    return float(len(steps) / span_years)
