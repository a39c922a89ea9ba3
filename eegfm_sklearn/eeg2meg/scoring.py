"""``score`` shared by the EEG->MEG estimators (the network and the linear baselines)."""

from __future__ import annotations

import numpy as np

from ._validation import check_pair
from .metrics import channel_r2


class EEG2MEGScoreMixin:
    """``score`` = mean over MEG channels of R^2 over all windows and samples."""

    def score(self, X, Y, sample_weight=None):
        """Mean per-channel coefficient of determination.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_eeg, n_times)
            EEG windows, in the units of the training ``X``.
        Y : ndarray, shape (n_windows, n_meg, n_times_out)
            True MEG windows, in the units of the training ``Y``.
        sample_weight : None
            Not supported (must be None).

        Returns
        -------
        score : float
            R^2 of ``predict(X)`` against ``Y`` per MEG channel (over all
            windows and samples), averaged over the channels; 1 is perfect,
            0 is predicting each channel's mean.
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported; drop or repeat windows instead.")
        X, Y = check_pair(X, Y)
        return float(np.mean(channel_r2(Y, self.predict(X))))
