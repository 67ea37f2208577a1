"""Instrument-aware trading costs: a small table of defaults, overridden by flags, checked against the prices.

A point is the instrument's smallest quoted price step; spread and slippage are counted in points,
commission in basis points of the traded notional per fill.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trainkit import ConfigError

__all__ = ["INSTRUMENTS", "CostSettings", "Instrument", "resolve_costs"]


@dataclass(frozen=True)
class Instrument:
    name: str
    point: float
    spread_points: float  # used when the file has no spread column
    slippage_points: float
    commission_bps: float
    typical_price: float  # the price scale this point size is made for
    description: str


INSTRUMENTS = {
    "xauusd": Instrument(
        "xauusd", 0.001, 190.0, 10.0, 0.0, 2_000.0, "spot gold, 3 decimals (Exness XAUUSDm): point 0.001 USD/oz"
    ),
    "fx": Instrument("fx", 0.00001, 10.0, 2.0, 0.0, 1.0, "EURUSD-like FX, 5 decimals: point 0.00001 (a pip = 10)"),
    "equity": Instrument(
        "equity", 0.01, 1.0, 1.0, 1.0, 100.0, "equities and ETFs quoted in cents: point 0.01, 1 bp commission per fill"
    ),
}
# An explicit --point_size with no instrument is taken to suit prices near point * 1e5 (gold 0.001 ~ 100-2,000,
# FX 0.00001 ~ 1, equities 0.01 ~ 1,000); beyond 100x from there the user is warned.
_PRICE_PER_POINT = 1e5
_WARN_RATIO = 100.0


@dataclass(frozen=True)
class CostSettings:
    instrument: str
    point: float
    slippage_points: float
    commission_bps: float
    spread_source: str  # "file", "--spread_points" or "instrument default"
    warning: str | None = None


def guess_instrument(path: str | os.PathLike[str], median_price: float) -> str:
    """From the file name (XAU, gold, EURUSD...), else from the price scale."""
    name = Path(path).name.lower()
    if "xau" in name or "gold" in name:
        return "xauusd"
    if any(code in name for code in ("eur", "gbp", "aud", "nzd", "usdchf", "usdcad")) or median_price < 20:
        return "fx"
    return "equity"


def resolve_costs(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    instrument: str = "auto",
    point_size: float | None = None,
    spread_points: float | None = None,
    slippage_points: float | None = None,
    commission_bps: float | None = None,
) -> tuple[pd.DataFrame, CostSettings]:
    """Costs for ``df``: the instrument's defaults, then every flag given; fills ``spread`` when needed."""
    median_price = float(df["close"].median())
    name = guess_instrument(path, median_price) if instrument == "auto" else instrument
    if name not in INSTRUMENTS:
        raise ConfigError(f"--instrument must be auto or one of {sorted(INSTRUMENTS)}, got {instrument!r}")
    spec = INSTRUMENTS[name]
    point = spec.point if point_size is None else point_size
    df = df.copy()
    if spread_points is not None:
        df["spread"], source = float(spread_points), "--spread_points"
    elif df.attrs.get("has_spread", True):
        source = "file"
    else:
        df["spread"], source = spec.spread_points, "instrument default"
    scale = spec.typical_price if point_size is None else point * _PRICE_PER_POINT
    ratio = max(median_price / scale, scale / median_price)
    warning = None
    if ratio > _WARN_RATIO:
        warning = (
            f"warning: prices near {median_price:.5g} but point size {point:g} suits prices near {scale:.5g} "
            f"({ratio:.0f}x apart); check --instrument/--point_size"
        )
    costs = CostSettings(
        instrument=name,
        point=point,
        slippage_points=spec.slippage_points if slippage_points is None else slippage_points,
        commission_bps=spec.commission_bps if commission_bps is None else commission_bps,
        spread_source=source,
        warning=warning,
    )
    return df, costs
