"""A head-direction ring attractor that path-integrates angular velocity, trained with Adam + cosine annealing."""

from importlib import metadata as _metadata

from hd_ring_attractor.enhanced_training import AdamCosineTrainer, NonFiniteLossError, create_training_config
from hd_ring_attractor.evaluation import cue_only_error_deg, evaluate, path_integration_loss
from hd_ring_attractor.models import BOUNDS, RingAttractorNetwork
from hd_ring_attractor.tasks import PathIntegrationTask, Trajectories, make_splits
from hd_ring_attractor.training import quick_train, save_progress_plots, train_model_enhanced
from hd_ring_attractor.utils import angle_to_input, circular_error_deg, decode_heading

__all__ = [
    "BOUNDS",
    "AdamCosineTrainer",
    "NonFiniteLossError",
    "PathIntegrationTask",
    "RingAttractorNetwork",
    "Trajectories",
    "angle_to_input",
    "circular_error_deg",
    "create_training_config",
    "cue_only_error_deg",
    "decode_heading",
    "evaluate",
    "make_splits",
    "path_integration_loss",
    "quick_train",
    "save_progress_plots",
    "train_model_enhanced",
]

__version__ = _metadata.version("hd_ring_attractor")  # one version source: pyproject.toml
