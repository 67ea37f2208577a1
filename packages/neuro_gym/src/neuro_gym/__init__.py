"""neuro_gym: spiking LIF circuits with STDP that learn XOR and order-coded sequences."""

from importlib import metadata as _metadata

from neuro_gym.circuit import Circuit, CircuitConfig, RunOutput
from neuro_gym.experiments import stdp_competition
from neuro_gym.neuro_gym import NeuroGym
from neuro_gym.neuron import OPTIMIZED_SCHEDULE, ORIGINAL_SCHEDULE, LIFParams, PlasticitySchedule, STDPParams
from neuro_gym.profiles import PROFILES, TrainingProfile, get_profile
from neuro_gym.smart_trainer import train_relentless
from neuro_gym.tasks import circuit_config_for, order_blind, sequence_task, validate_task_data, xor_task

__all__ = [
    "OPTIMIZED_SCHEDULE",
    "ORIGINAL_SCHEDULE",
    "PROFILES",
    "Circuit",
    "CircuitConfig",
    "LIFParams",
    "NeuroGym",
    "PlasticitySchedule",
    "RunOutput",
    "STDPParams",
    "TrainingProfile",
    "circuit_config_for",
    "get_profile",
    "order_blind",
    "sequence_task",
    "stdp_competition",
    "train_relentless",
    "validate_task_data",
    "xor_task",
]

__version__ = _metadata.version("neuro_gym")  # one version source: pyproject.toml
