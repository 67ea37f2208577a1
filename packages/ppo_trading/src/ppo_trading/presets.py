"""Training run sizes (``--preset``), in bars and env steps, not minutes. The bench has its own (bench.py)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BENCH_DATA_SEED", "PRESETS", "Preset"]

# The benchmark and the scaling measurement train on generate_synthetic_xauusd(bars, BENCH_DATA_SEED).
BENCH_DATA_SEED = 2024


@dataclass(frozen=True)
class Preset:
    """``max_bars`` None uses the whole file; ``iterations`` caps the windows that fit (None: all of them)."""

    max_bars: int | None
    iterations: int | None
    total_timesteps: int
    min_timesteps: int
    eval_freq: int
    scaling_bars: int  # synthetic bars for `python -m ppo_trading scaling`


PRESETS = {
    # Seconds: two tiny iterations, to prove the pipeline end to end.
    "ci": Preset(4_000, 2, 512, 256, 512, 4_000),
    # Minutes on 2 cores. Validation every 256 env steps (1/8 of the budget; the original project validated
    # every 10,000 of 100,000 steps).
    "quick": Preset(8_000, 6, 2_048, 1_024, 256, 8_000),
    # The design document's 50,000 / 15,000 timesteps over every window of the data.
    "full": Preset(None, None, 50_000, 15_000, 5_120, 20_000),
}
