"""Errors that reach the user as one readable line instead of a traceback."""


class TrainkitError(Exception):
    """Base class: anything a user can fix (bad input, bad config, bad file)."""


class ConfigError(TrainkitError):
    """An impossible or contradictory configuration."""


class DataError(TrainkitError):
    """Input data that fails validation (malformed CSV, NaN, wrong shapes)."""


class CheckpointError(TrainkitError):
    """A checkpoint that is missing, truncated, or not one of ours."""


class CSVHeaderError(TrainkitError):
    """An existing CSV log whose header does not match the logger's fields."""


class OutputError(TrainkitError):
    """An output we must not write: a folder another run holds, or a log planted as a symbolic link."""
