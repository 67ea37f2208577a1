"""early_inference: calibrated inference of kinetic parameters from early time-series prefixes."""

from importlib import metadata as _metadata

__version__ = _metadata.version("early_inference")  # one version source: pyproject.toml
