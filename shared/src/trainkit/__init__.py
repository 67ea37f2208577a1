"""trainkit: the shared training toolkit behind every package in this monorepo."""

from importlib import metadata as _metadata

from trainkit.atomic import atomic_write, write_json
from trainkit.batched_logging import BatchedCSVLogger, truncate_csv_rows
from trainkit.checkpoint import latest_checkpoint, load_checkpoint, require, save_checkpoint
from trainkit.cli import run_cli
from trainkit.device import resolve_device
from trainkit.early_stopping import EarlyStopping
from trainkit.errors import CheckpointError, ConfigError, CSVHeaderError, DataError, TrainkitError
from trainkit.harness import Arm, BenchSpec, Decomposition, RunResult, run_bench, run_interleaved
from trainkit.model_checkpoint import ModelCheckpoint
from trainkit.progress import progress_bar
from trainkit.schedules import EvalCadence, Phase, PhaseSchedule, WarmupCosine, WarmupThenPlateau, geometric_budget
from trainkit.seeding import seed_everything
from trainkit.stats import Margin, Opponent
from trainkit.timing import Stopwatch

__all__ = [
    "Arm",
    "BatchedCSVLogger",
    "BenchSpec",
    "CSVHeaderError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Decomposition",
    "EarlyStopping",
    "EvalCadence",
    "Margin",
    "ModelCheckpoint",
    "Opponent",
    "Phase",
    "PhaseSchedule",
    "RunResult",
    "Stopwatch",
    "TrainkitError",
    "WarmupCosine",
    "WarmupThenPlateau",
    "atomic_write",
    "geometric_budget",
    "latest_checkpoint",
    "load_checkpoint",
    "progress_bar",
    "require",
    "resolve_device",
    "run_bench",
    "run_cli",
    "run_interleaved",
    "save_checkpoint",
    "seed_everything",
    "truncate_csv_rows",
    "write_json",
]

try:  # one version source: shared/pyproject.toml, read back from the installed metadata
    __version__ = _metadata.version("fivebench-trainkit")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
