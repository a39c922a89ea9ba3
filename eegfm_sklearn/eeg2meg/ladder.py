"""Learnability ladder: real EEG with a known "MEG" target that a linear map explains exactly.

Rungs (a) and (b) of the EEG->MEG ladder (``docs/guide/eeg2meg.md``): 1 s
windows of real EEGMAT EEG (19 channels resampled to 100 Hz) and a target of
20 channels that is a fixed, noiseless function of them:

* ``"instant"``: ``Y = W X`` (a random instantaneous mix);
* ``"fir"``: ``Y[o, t] = sum_c sum_k H[o, c, k] X[c, t - k]`` (a short causal
  FIR filter per channel pair, ``n_taps`` samples).

Windows are cut from one continuous filtered signal *before* mixing, so the
FIR target of a window's first samples uses the EEG just before the window:
a model that only sees the window cannot be exact there, as with real data.
Training and test windows come from different subjects.
"""

from __future__ import annotations

import numpy as np

from ..utils._data_dir import get_data_dir

SFREQ = 100.0
N_OUT = 20
KINDS = ("instant", "fir")


def eegmat_continuous(subject: int, sfreq: float = SFREQ, data_dir=None) -> np.ndarray:
    """The 19 scalp channels of ``SubjectNN_1.edf`` (rest), 0.5-40 Hz, at ``sfreq``, in µV: ``(19, n_times)``."""
    import mne

    path = get_data_dir(data_dir) / "eegmat" / f"Subject{subject:02d}_1.edf"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the ladder reads EEGMAT from the data folder (set EEGFM_DATA_DIR)."
        )
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "A2-A1" not in n])
    raw.filter(0.5, 40.0, verbose="error")
    raw.resample(sfreq, verbose="error")
    return raw.get_data() * 1e6


def mixing(kind: str, n_in: int, n_out: int = N_OUT, n_taps: int = 5, seed: int = 0) -> np.ndarray:
    """The ladder's fixed map: ``(n_out, n_in, n_taps)`` FIR taps (``n_taps = 1`` for ``"instant"``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    rng = np.random.default_rng(seed)
    taps = 1 if kind == "instant" else int(n_taps)
    H = rng.standard_normal((n_out, n_in, taps)) / np.sqrt(n_in * taps)
    return H


def apply_mixing(H: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Y[o, t] = sum_{c,k} H[o, c, k] x[c, t - k]`` on a continuous ``(n_in, n_times)`` signal."""
    n_out, _, taps = H.shape
    y = np.zeros((n_out, x.shape[1]))
    for k in range(taps):
        y[:, k:] += H[:, :, k] @ x[:, : x.shape[1] - k]
    return y


def windows(signal: np.ndarray, n_times: int, n_windows: int | None = None, skip: int = 8) -> np.ndarray:
    """Consecutive non-overlapping windows ``(n, channels, n_times)``, after ``skip`` samples."""
    n = (signal.shape[1] - skip) // n_times
    n = n if n_windows is None else min(n, int(n_windows))
    return np.stack([signal[:, skip + i * n_times : skip + (i + 1) * n_times] for i in range(n)])


def ladder_data(kind: str, train_subject: int = 0, test_subject: int = 1, n_train: int = 150,
                n_test: int = 60, seconds: float = 1.0, seed: int = 0, data_dir=None):
    """Paired train and test windows of a ladder rung.

    Parameters
    ----------
    kind : {"instant", "fir"}
        Rung (a) or (b).
    train_subject, test_subject : int
        EEGMAT subjects of the training and test windows.
    n_train, n_test : int
        Windows of each (at most what the recording holds, ~180).
    seconds : float
        Window length.
    seed : int
        Seeds the mixing matrix / filters.
    data_dir : str or Path or None
        Folder holding ``eegmat/`` (default: :func:`get_data_dir`).

    Returns
    -------
    X_train, Y_train, X_test, Y_test : ndarray
        EEG ``(n, 19, T)`` in µV and target ``(n, 20, T)``, ``T = seconds * 100``.
    """
    n_times = round(seconds * SFREQ)
    out = []
    H = None
    for subject, n in ((train_subject, n_train), (test_subject, n_test)):
        x = eegmat_continuous(subject, data_dir=data_dir)
        if H is None:
            H = mixing(kind, x.shape[0], seed=seed)
        y = apply_mixing(H, x)
        out += [windows(x, n_times, n), windows(y, n_times, n)]
    return tuple(out)


# The small configurations of the ladder tests and benchmark (EEGToMEGRegressor parameters): no
# ridge-initialised path; each fit of 120 one-second windows takes minutes at most on 2 cores.
LADDER_CONFIGS = {
    "continuous": {"mode": "continuous", "linear_skip": False, "d_model": 32, "n_heads": 4, "n_encoder_layers": 1,
                   "n_decoder_layers": 1, "seg_len": 10, "max_epochs": 40, "batch_size": 8, "lr": 2e-3},
    "tokens": {"mode": "tokens", "d_model": 32, "n_heads": 4, "d_ff": 64, "n_routers": 4, "n_encoder_layers": 0,
               "n_decoder_layers": 1, "dropout": 0.0, "max_epochs": 15, "batch_size": 8, "lr": 3e-3},
}
