from __future__ import annotations

import numpy as np
from ppo_trading.features import (
    FEATURE_NAMES,
    FeatureCache,
    FeatureConfig,
    clear_optimization_cache,
    compute_features,
    standardize,
)


def test_changing_future_bars_never_changes_past_features(bars):
    cut = 2_500
    original = compute_features(bars)
    future = bars.copy()
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.8, 1.2, len(bars) - cut)
    for column in ("open", "high", "low", "close"):
        future.loc[cut:, column] = future.loc[cut:, column].to_numpy() * scale
    future.loc[cut:, "volume"] = rng.integers(1, 10_000, len(bars) - cut)
    future.loc[cut:, "spread"] = 999
    changed = compute_features(future)
    assert original.shape == (len(bars), len(FEATURE_NAMES))
    assert np.array_equal(original[:cut], changed[:cut], equal_nan=True)
    assert not np.allclose(original[cut:], changed[cut:], equal_nan=True)  # the change did reach the future
    # a truncated series gives the same rows too (nothing looks ahead)
    assert np.array_equal(compute_features(bars.iloc[:cut]), original[:cut], equal_nan=True)


def test_warmup_rows_only_hold_nan(bars):
    features = compute_features(bars)
    assert np.isfinite(features[FeatureConfig().warmup :]).all()


def test_standardize_uses_training_rows_only(bars):
    raw = compute_features(bars)
    train = slice(200, 1200)
    scaled, mean, _ = standardize(raw, train)
    assert scaled.dtype == np.float32
    assert np.allclose(mean, raw[train].mean(axis=0))
    raw_later = raw.copy()
    raw_later[1200:] *= 3.0
    again, mean_again, _ = standardize(raw_later, train)
    assert np.array_equal(mean, mean_again)
    assert np.array_equal(scaled[:1200], again[:1200])
    assert np.abs(scaled).max() <= 5.0


def test_cache_equals_uncached_exactly_and_is_keyed_by_data_and_config(bars, tmp_path):
    clear_optimization_cache(tmp_path)
    cache = FeatureCache(tmp_path)
    uncached = compute_features(bars)
    first = cache.features(bars)
    assert cache.misses == 1 and np.array_equal(first, uncached, equal_nan=True)
    FeatureCache._memory.clear()
    from_disk = FeatureCache(tmp_path).features(bars)
    assert np.array_equal(from_disk, uncached, equal_nan=True)
    other_config = FeatureConfig(sma_window=30)
    assert FeatureCache.key(bars, other_config) != FeatureCache.key(bars, FeatureConfig())
    other_data = bars.copy()
    other_data.loc[5, "volume"] += 1
    assert FeatureCache.key(other_data, FeatureConfig()) != FeatureCache.key(bars, FeatureConfig())
    assert clear_optimization_cache(tmp_path) == 1
    assert not list(tmp_path.glob("features_*.npy"))
