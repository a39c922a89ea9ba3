"""EEG foundation models as scikit-learn estimators."""

from ._moved import install as _install_moved
from .utils._warn import import_braindecode

_install_moved(__name__)  # old module paths (eegfm_sklearn.filtering, ...) keep working

import_braindecode()  # first, so that braindecode's import-time notices are filtered at their import

from .benchmarking import benchmark
from .cards import get_model_card, list_models, register_card
from .estimators import FoundationClassifier, FoundationRegressor, FoundationTransformer
from .preprocessing.montage import ChannelReport, ChannelWarning

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

# Imported on first use: the EEG->MEG subpackage (and, with it, transformers) is not
# needed by the foundation-model estimators.
_LAZY = {"EEGToMEGRegressor": "eeg2meg"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
