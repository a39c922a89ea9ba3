"""EEG -> MEG: a two-stage-attention transformer and linear baselines as sklearn regressors."""

from .baselines import RidgeEEGToMEG
from .estimator import EEGToMEGRegressor
from .metrics import channel_pearson, channel_r2, eeg2meg_metrics
from .network import EEGToMEGTransformer
from .simulate import get_forward, simulate_paired_raw, simulate_paired_windows
from .windows import PairedWindows, paired_windows

__all__ = [
    "EEGToMEGRegressor",
    "EEGToMEGTransformer",
    "PairedWindows",
    "RidgeEEGToMEG",
    "channel_pearson",
    "channel_r2",
    "eeg2meg_metrics",
    "get_forward",
    "paired_windows",
    "simulate_paired_raw",
    "simulate_paired_windows",
]
