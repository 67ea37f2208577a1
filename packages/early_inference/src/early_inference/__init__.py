"""early_inference: calibrated inference of kinetic parameters from early time-series prefixes."""

__version__ = "0.1.0"
