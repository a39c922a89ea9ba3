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
