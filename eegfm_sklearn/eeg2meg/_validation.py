"""Input checks shared by every EEG->MEG estimator (one place, one wording)."""

from __future__ import annotations

import numpy as np

_HOW_TO_WINDOW = (
    "Cut paired windows from an mne Raw/Epochs/Evoked holding EEG and MEG with "
    "eegfm_sklearn.eeg2meg.paired_windows()."
)


def _as_3d(arr, name: str, what: str) -> np.ndarray:
    kind = getattr(getattr(arr, "dtype", None), "kind", None) or np.asarray(arr).dtype.kind
    if kind == "c":  # numpy would drop the imaginary part with only a ComplexWarning
        raise ValueError(f"{name} holds complex values; pass the real signal (np.real({name})) or its "
                         f"envelope (np.abs({name})).")
    if kind == "b":
        raise ValueError(f"{name} holds booleans (dtype bool), not a signal; pass the recorded values.")
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array of {what}; could not convert it: {err}") from None
    if out.ndim != 3:
        hint = (
            f" For one window use {name}[np.newaxis]."
            if out.ndim == 2
            else ""
        )
        raise ValueError(
            f"{name} must be a 3-D array of shape {what}; got {out.ndim}-D with shape "
            f"{out.shape}.{hint} {_HOW_TO_WINDOW}"
        )
    if 0 in out.shape:
        raise ValueError(f"{name} is empty (shape {out.shape}); it needs at least one window, channel and sample.")
    bad = ~np.isfinite(out)
    if bad.any():
        w = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (in {w.size} of "
            f"{out.shape[0]} windows, e.g. window {int(w[0])}). Drop those windows "
            f"(e.g. {name}[np.isfinite({name}).all(axis=(1, 2))]) or interpolate bad "
            "channels (raw.interpolate_bads()) before calling this."
        )
    return out


def check_eeg(X, n_chans=None) -> np.ndarray:
    """Validate EEG windows ``(n_windows, n_eeg, n_times)``; return float64."""
    X = _as_3d(X, "X", "(n_windows, n_eeg_channels, n_times)")
    if n_chans is not None and X.shape[1] != n_chans:
        raise ValueError(
            f"X has {X.shape[1]} EEG channels but the model was fitted on {n_chans}; "
            "pass the same EEG channels in the same order as in fit."
        )
    return X


def check_pair(X, Y, same_length: bool = False):
    """Validate paired EEG ``X`` and MEG ``Y`` windows; return both as float64."""
    X = check_eeg(X)
    Y = _as_3d(Y, "Y", "(n_windows, n_meg_channels, n_times_out)")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} EEG windows but Y has {Y.shape[0]} MEG windows; they must be "
            f"paired one-to-one (window i of X and of Y cover the same time). {_HOW_TO_WINDOW}"
        )
    if same_length and X.shape[2] != Y.shape[2]:
        raise ValueError(
            f"X windows have {X.shape[2]} samples but Y windows have {Y.shape[2]}; this model "
            "needs EEG and MEG at the same sampling rate (resample one of them first)."
        )
    return X, Y


def channel_stats(A: np.ndarray):
    """Per-channel mean and scale over windows and time; flat channels get scale 1."""
    mean = A.mean(axis=(0, 2))
    scale = A.std(axis=(0, 2))
    scale = np.where(scale > 0, scale, 1.0)
    return mean, scale
