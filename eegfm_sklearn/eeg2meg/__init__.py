"""EEG -> MEG: transformer networks and linear baselines as sklearn regressors.

With ``transformers`` installed (``pip install eegfm_sklearn[hf]``),
importing this package registers :class:`EEGToMEGConfig` and
:class:`EEGToMEGModel` with ``AutoConfig`` / ``AutoModel`` under
``model_type="eeg2meg"``.
"""

from .baselines import ReducedRankRidgeEEGToMEG, RidgeEEGToMEG
from .brainformer import BrainformerNetwork
from .continuous import EEGToMEGTransformer
from .estimator import EEGToMEGRegressor
from .metrics import channel_pearson, channel_r2, eeg2meg_metrics
from .networks import build_network, network_modes
from .simulate import get_forward, simulate_paired_raw, simulate_paired_windows
from .tokens import MuLawTokenizer
from .windows import PairedWindows, paired_windows

__all__ = [
    "BrainformerNetwork",
    "EEGToMEGRegressor",
    "EEGToMEGTransformer",
    "MuLawTokenizer",
    "PairedWindows",
    "ReducedRankRidgeEEGToMEG",
    "RidgeEEGToMEG",
    "build_network",
    "channel_pearson",
    "channel_r2",
    "eeg2meg_metrics",
    "get_forward",
    "network_modes",
    "paired_windows",
    "simulate_paired_raw",
    "simulate_paired_windows",
]

# The transformers classes (the optional ``hf`` extra) are imported on first use.
_HF_NAMES = ("EEGToMEGConfig", "EEGToMEGModel", "EEGToMEGOutput")


def __getattr__(name):
    if name in _HF_NAMES:
        from . import hf  # without transformers: ImportError saying how to install it

        return getattr(hf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_with_transformers():
    """Make ``AutoConfig`` / ``AutoModel`` know ``model_type="eeg2meg"`` when transformers is installed."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return
    from .hf import register

    register()


_register_with_transformers()
