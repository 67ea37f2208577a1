"""The bench's PNGs: predicted vs true, calibration curves, learning-rate and loss curves (one seed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from early_inference import simulators
from early_inference.arms import PrefixOutcome
from early_inference.evaluate import calibration_curve
from early_inference.generate_early_inference_data import EarlyInferenceData
from early_inference.plots import plot_calibration, plot_lr_and_loss, plot_predicted_vs_true

__all__ = ["LEVELS", "write_plots"]

LEVELS = np.linspace(0.05, 0.95, 19)


def write_plots(
    out_dir: Path,
    data: EarlyInferenceData,
    stores: Mapping[str, Mapping[tuple[int, float], PrefixOutcome]],
    seed: int,
    n_eval: int,
) -> list[Path]:
    sim = simulators.get(data.config["simulator"])
    truth = data.params["test"][:n_eval]
    truth_z = sim.to_target(truth)
    panels, curves, histories = {}, {}, {}
    for length in data.prefix_lengths:
        own = stores["optimized"][(seed, length)].own
        sd = np.sqrt(own.var)
        panels[length] = {
            "truth": truth,
            "median": sim.from_target(own.mean),
            "lower": sim.from_target(own.mean - sd),
            "upper": sim.from_target(own.mean + sd),
        }
        for arm, store in stores.items():
            prediction = store[(seed, length)].own
            histories[f"{arm} {length:g}s"] = store[(seed, length)].history
            for j, name in enumerate(sim.param_names):
                curves[f"{arm} {name} {length:g}s"] = calibration_curve(
                    prediction.mean[:, j], prediction.var[:, j], truth_z[:, j], LEVELS
                )
    return [
        plot_predicted_vs_true(out_dir / "predicted_vs_true.png", panels, sim.param_names),
        plot_calibration(out_dir / "calibration.png", LEVELS, curves),
        plot_lr_and_loss(out_dir / "lr_and_loss.png", histories),
    ]
