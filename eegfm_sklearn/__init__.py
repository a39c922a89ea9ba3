"""EEG foundation models as scikit-learn estimators."""

from ._moved import install as _install_moved

_install_moved(__name__)  # old module paths (eegfm_sklearn.filtering, ...) keep working

# Every public name is imported on first use (module ``__getattr__`` below): ``import
# eegfm_sklearn`` and the command line's parsing stay light. braindecode (and with it skorch,
# moabb...) is imported only when a card first builds its module (``ModelCard.module_class``,
# which filters braindecode's import-time notices); scikit-learn with the estimators.

__version__ = "0.1.0"

__all__ = [
    "ChannelReport",
    "ChannelWarning",
    "EEGToMEGRegressor",
    "FoundationClassifier",
    "FoundationRegressor",
    "FoundationTransformer",
    "benchmark",
    "embed_recordings",
    "get_model_card",
    "list_models",
    "read_embeddings",
    "register_card",
]

# name -> submodule holding it. The EEG->MEG subpackage (and, with it, transformers) is not
# needed by the foundation-model estimators; nor is the corpus runner (pyarrow, joblib, dask);
# the benchmark helper pulls scikit-learn's models.
_LAZY = {
    "ChannelReport": "preprocessing.montage",
    "ChannelWarning": "preprocessing.montage",
    "get_model_card": "cards",
    "list_models": "cards",
    "register_card": "cards",
    "FoundationClassifier": "estimators",
    "FoundationRegressor": "estimators",
    "FoundationTransformer": "estimators",
    "EEGToMEGRegressor": "eeg2meg",
    "benchmark": "benchmarking",
    "embed_recordings": "corpus",
    "read_embeddings": "corpus",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
