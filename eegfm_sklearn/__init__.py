"""EEG foundation models as scikit-learn estimators."""

from .adapter import ChannelReport, ChannelWarning
from .benchmarking import benchmark
from .cards import get_model_card, list_models, register_card
from .eeg2meg import EEGToMEGRegressor
from .estimators import FoundationClassifier, FoundationRegressor, FoundationTransformer

__version__ = "0.1.0"

__all__ = [
    "ChannelReport",
    "ChannelWarning",
    "EEGToMEGRegressor",
    "FoundationClassifier",
    "FoundationRegressor",
    "FoundationTransformer",
    "benchmark",
    "get_model_card",
    "list_models",
    "register_card",
]
