"""Per-channel agreement between true and predicted MEG windows."""

from __future__ import annotations

import numpy as np


def _flat(Y: np.ndarray) -> np.ndarray:
    # (n_windows, n_channels, n_times) -> (n_samples, n_channels)
    return np.asarray(Y, dtype=np.float64).transpose(0, 2, 1).reshape(-1, Y.shape[1])


def channel_r2(Y_true, Y_pred) -> np.ndarray:
    """Coefficient of determination per channel, over all windows and samples.

    Parameters
    ----------
    Y_true, Y_pred : ndarray, shape (n_windows, n_channels, n_times)
        True and predicted windows.

    Returns
    -------
    r2 : ndarray of float64, shape (n_channels,)
        ``1 - SS_res / SS_tot`` per channel: 1 is perfect, 0 is the
        channel's mean, negative is worse than the mean.
    """
    t, p = _flat(Y_true), _flat(Y_pred)
    ss_res = ((t - p) ** 2).sum(0)
    ss_tot = ((t - t.mean(0)) ** 2).sum(0)
    return 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, np.finfo(float).tiny)


def channel_pearson(Y_true, Y_pred) -> np.ndarray:
    """Pearson correlation per channel, over all windows and samples.

    Parameters
    ----------
    Y_true, Y_pred : ndarray, shape (n_windows, n_channels, n_times)
        True and predicted windows.

    Returns
    -------
    r : ndarray of float64, shape (n_channels,)
        Correlation per channel in [-1, 1]; 0 for a channel that is
        constant in either array.
    """
    t, p = _flat(Y_true), _flat(Y_pred)
    t = t - t.mean(0)
    p = p - p.mean(0)
    den = np.sqrt((t**2).sum(0) * (p**2).sum(0))
    return (t * p).sum(0) / np.where(den > 0, den, np.inf)


def eeg2meg_metrics(Y_true, Y_pred, ch_types=None) -> dict:
    """Pearson r and R^2 per MEG channel, summarised for magnetometers and gradiometers.

    Parameters
    ----------
    Y_true, Y_pred : ndarray, shape (n_windows, n_meg, n_times)
        True and predicted MEG windows.
    ch_types : sequence of str, shape (n_meg,), optional
        Type of each MEG channel (``"mag"``/``"grad"``, as from
        ``paired_windows(...).meg_ch_types``). Without it only ``"all"`` is
        summarised.

    Returns
    -------
    metrics : dict
        ``"r"`` and ``"r2"``: arrays of shape (n_meg,); ``"summary"``: a dict
        mapping ``"all"`` (and each channel type present) to
        ``{"r": mean r, "r2": mean R^2, "n": channel count}``.
    """
    Y_true = np.asarray(Y_true)
    Y_pred = np.asarray(Y_pred)
    if Y_true.shape != Y_pred.shape or Y_true.ndim != 3:
        raise ValueError(
            f"Y_true and Y_pred must be 3-D arrays of the same shape "
            f"(n_windows, n_meg, n_times); got {Y_true.shape} and {Y_pred.shape}."
        )
    r, r2 = channel_pearson(Y_true, Y_pred), channel_r2(Y_true, Y_pred)
    groups = {"all": np.ones(r.size, bool)}
    if ch_types is not None:
        ch_types = np.asarray(ch_types)
        if ch_types.shape != (r.size,):
            raise ValueError(f"ch_types must have one entry per MEG channel ({r.size}); got {ch_types.shape}.")
        for kind in ("mag", "grad"):
            if (ch_types == kind).any():
                groups[kind] = ch_types == kind
    summary = {
        k: {"r": float(r[m].mean()), "r2": float(r2[m].mean()), "n": int(m.sum())}
        for k, m in groups.items()
    }
    return {"r": r, "r2": r2, "summary": summary}
