"""Causal bar features, their train-window standardisation and the hash-keyed feature cache."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ppo_trading.data import POINT, data_sha256
from trainkit import atomic_write

__all__ = [
    "FEATURE_NAMES",
    "FeatureCache",
    "FeatureConfig",
    "clear_optimization_cache",
    "compute_features",
    "default_cache_dir",
    "standardize",
]

FEATURE_NAMES = (
    "logret_1",
    "logret_4",
    "logret_16",
    "logret_96",
    "vol_16",
    "vol_96",
    "atr_ratio",
    "rsi",
    "close_sma_atr",
    "bollinger_b",
    "volume_z",
    "spread_atr",
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
)


@dataclass(frozen=True)
class FeatureConfig:
    """Indicator windows. Every indicator looks back only; the first ``warmup`` rows are NaN-prone."""

    atr_window: int = 14
    rsi_window: int = 14
    sma_window: int = 20
    long_window: int = 96
    clip: float = 5.0
    point: float = POINT  # the instrument's point: spread (in points) x point = spread in price units
    version: int = 1

    @property
    def warmup(self) -> int:
        return max(self.atr_window, self.rsi_window, self.sma_window, self.long_window) + 1

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def compute_features(df: pd.DataFrame, config: FeatureConfig | None = None) -> np.ndarray:
    """Raw (unstandardised) causal features, shape ``(len(df), len(FEATURE_NAMES))``, float64.

    Row t uses bars 0..t only (rolling windows, no centring, no back-fill), so changing bar t+1
    or later never changes row t. Rows before ``config.warmup`` may hold NaN.
    """
    config = config or FeatureConfig()
    close = df["close"].astype(float)
    high, low = df["high"].astype(float), df["low"].astype(float)
    log_close = np.log(close)
    ret1 = log_close.diff()

    previous_close = close.shift(1)
    true_range = pd.concat([high - low, (high - previous_close).abs(), (low - previous_close).abs()], axis=1).max(
        axis=1
    )
    atr = true_range.rolling(config.atr_window).mean()
    gains = ret1.clip(lower=0).rolling(config.rsi_window).mean()
    losses = (-ret1.clip(upper=0)).rolling(config.rsi_window).mean()
    rsi = 100 * gains / (gains + losses)
    sma = close.rolling(config.sma_window).mean()
    std = close.rolling(config.sma_window).std()
    volume = df["volume"].astype(float)
    volume_z = (volume - volume.rolling(config.long_window).mean()) / (volume.rolling(config.long_window).std() + 1e-9)
    times = pd.DatetimeIndex(df["time"])
    hour = (times.hour.to_numpy() + times.minute.to_numpy() / 60.0) * (2 * np.pi / 24)
    dow = times.day_of_week.to_numpy() * (2 * np.pi / 7)

    columns = [
        ret1,
        log_close.diff(4),
        log_close.diff(16),
        log_close.diff(config.long_window),
        ret1.rolling(16).std(),
        ret1.rolling(config.long_window).std(),
        atr / close,
        rsi / 50 - 1,
        (close - sma) / atr,
        (close - sma) / (2 * std + 1e-9),
        volume_z,
        df["spread"].astype(float) * config.point / atr,
        np.sin(hour),
        np.cos(hour),
        np.sin(dow),
        np.cos(dow),
    ]
    features = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    features[~np.isfinite(features)] = np.nan
    return features


def standardize(features: np.ndarray, train: slice, clip: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score every row with the mean/std of the ``train`` rows only, clip to ±clip, float32.

    Returns ``(standardised, mean, std)``. NaN (warm-up rows) become 0.
    """
    window = features[train]
    mean = np.nanmean(window, axis=0)
    std = np.nanstd(window, axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    scaled = np.clip((features - mean) / std, -clip, clip)
    return np.nan_to_num(scaled, nan=0.0).astype(np.float32), mean, std


def default_cache_dir() -> Path:
    """``$PPO_TRADING_CACHE`` or ``~/.cache/ppo_trading``."""
    return Path(os.environ.get("PPO_TRADING_CACHE", Path.home() / ".cache" / "ppo_trading"))


class FeatureCache:
    """Features keyed by sha256(data) + sha256(feature config), in memory and as ``.npy`` files.

    A cached result is the array that :func:`compute_features` returned, saved losslessly, so
    cached and uncached features are equal bit for bit.
    """

    _memory: dict[str, np.ndarray] = {}  # noqa: RUF012 (one process-wide cache is the point)

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(df: pd.DataFrame, config: FeatureConfig) -> str:
        config_hash = hashlib.sha256(config.key().encode()).hexdigest()
        return hashlib.sha256((data_sha256(df) + config_hash).encode()).hexdigest()[:32]

    def features(self, df: pd.DataFrame, config: FeatureConfig | None = None) -> np.ndarray:
        config = config or FeatureConfig()
        key = self.key(df, config)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.cache_dir / f"features_{key}.npy"
        if path.is_file():
            try:
                features = np.load(path, allow_pickle=False)
                self.hits += 1
                self._memory[key] = features
                return features
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a torn file from a killed run: recompute it
        self.misses += 1
        features = compute_features(df, config)
        with atomic_write(path, "wb") as handle:
            np.save(handle, features, allow_pickle=False)
        self._memory[key] = features
        return features


def clear_optimization_cache(cache_dir: str | os.PathLike[str] | None = None) -> int:
    """Forget cached features (memory and disk); return how many files were deleted."""
    FeatureCache._memory.clear()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    removed = 0
    for path in folder.glob("features_*.npy") if folder.is_dir() else []:
        path.unlink(missing_ok=True)
        removed += 1
    return removed
