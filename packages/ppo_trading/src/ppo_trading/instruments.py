"""Instrument-aware trading costs: a small table of defaults, overridden by flags, checked against the prices.

A point is the instrument's smallest quoted price step; spread and slippage are counted in points,
commission in basis points of the traded notional per fill.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from trainkit import ConfigError, DataError

__all__ = ["AUTO_RULE", "INSTRUMENTS", "CostSettings", "Instrument", "guess_instrument", "resolve_costs"]


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
# A quoted spread of this share of the price or more is no market: refused, naming the row.
MAX_SPREAD_SHARE = 0.1
# --instrument auto looks at the bars only (never the file name), so the same bytes get the same costs.
AUTO_RULE = "median close below 20: fx; from 600 to 10,000: xauusd; otherwise equity"


@dataclass(frozen=True)
class CostSettings:
    instrument: str
    point: float
    slippage_points: float
    commission_bps: float
    spread_source: str  # "file", "--spread_points" or "instrument default"
    warning: str | None = None
    chosen_by: str = "--instrument"  # or "auto: <the rule> (median close X)"

    def describe(self) -> str:
        """The line printed at the start of a run."""
        return (
            f"instrument {self.instrument} ({self.chosen_by}): point {self.point:g}, spread from "
            f"{self.spread_source}, slippage {self.slippage_points:g} points, commission {self.commission_bps:g} "
            "bps per fill"
        )

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "warning"}


def guess_instrument(median_price: float) -> str:
    """``--instrument auto``: from the price scale alone (:data:`AUTO_RULE`), never from the file name."""
    if median_price < 20:
        return "fx"
    return "xauusd" if 600 <= median_price <= 10_000 else "equity"


def _check_spread(df: pd.DataFrame, point: float, path: str | os.PathLike[str]) -> None:
    share = df["spread"].to_numpy(float) * point / df["close"].to_numpy(float)
    bad = np.flatnonzero(~(share < MAX_SPREAD_SHARE))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: row {i + int(df.attrs.get('first_line', 2))}: spread {df['spread'].iloc[i]:g} points x point "
            f"{point:g} is {share[i]:.3g} of the close {df['close'].iloc[i]:g} (at most {MAX_SPREAD_SHARE:g}); "
            "check --instrument/--point_size or the spread column"
        )


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
    name = guess_instrument(median_price) if instrument == "auto" else instrument
    chosen_by = f"auto: {AUTO_RULE}; median close {median_price:.5g}" if instrument == "auto" else "--instrument"
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
    _check_spread(df, point, path)
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
        chosen_by=chosen_by,
    )
    return df, costs
