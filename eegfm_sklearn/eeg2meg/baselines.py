"""Linear EEG->MEG baselines with the same window API as the transformer."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import channel_stats, check_eeg, check_pair
from .estimator import EEG2MEGScoreMixin


def lagged_features(Xs: np.ndarray, lags) -> np.ndarray:
    """Stack time-shifted copies of standardised EEG windows.

    Parameters
    ----------
    Xs : ndarray, shape (n_windows, n_eeg, n_times)
    lags : sequence of int
        Shifts in samples; lag ``k`` puts ``x[t - k]`` at time ``t`` (zero,
        i.e. the channel mean, outside the window).

    Returns
    -------
    F : ndarray, shape (n_windows * n_times, n_eeg * n_lags)
    """
    n, c, t = Xs.shape
    out = np.zeros((n, t, len(lags), c), dtype=Xs.dtype)
    xt = Xs.transpose(0, 2, 1)
    for j, k in enumerate(lags):
        if k >= 0:
            out[:, k:, j] = xt[:, : t - k] if k < t else 0
        else:
            out[:, : t + k, j] = xt[:, -k:]
    return out.reshape(n * t, len(lags) * c)


class RidgeEEGToMEG(EEG2MEGScoreMixin, RegressorMixin, BaseEstimator):
    """Ridge regression from EEG samples (optionally time-lagged) to MEG samples.

    With ``n_lags=0`` each MEG sample is a linear mix of the EEG samples at the
    same instant (the quasi-static forward model says this is the right form for
    shared sources). With ``n_lags=L`` the EEG from ``t - L*lag_step`` to
    ``t + L*lag_step`` is used, a linear spatio-temporal filter. The ridge
    penalty is chosen per MEG channel by efficient leave-one-out (GCV).

    Parameters
    ----------
    n_lags : int, default=0
        Lags on each side of 0 (0: instantaneous).
    lag_step : int, default=1
        Samples between consecutive lags.
    alphas : sequence of float, default=np.logspace(-3, 5, 17)
        Candidate penalties (on standardised data).

    Attributes
    ----------
    ridge_ : sklearn.linear_model.RidgeCV
        The fitted model on standardised features and targets.
    lags_ : ndarray of int
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        Channel statistics.
    n_eeg_channels_, n_meg_channels_ : int
    """

    def __init__(self, n_lags=0, lag_step=1, alphas=tuple(np.logspace(-3, 5, 17))):
        self.n_lags = n_lags
        self.lag_step = lag_step
        self.alphas = alphas

    def fit(self, X, Y):
        """Fit on paired windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
        Y : array-like, shape (n_windows, n_meg, n_times)
            Same number of samples as ``X``.

        Returns
        -------
        self
        """
        from sklearn.linear_model import RidgeCV

        if int(self.n_lags) != self.n_lags or self.n_lags < 0 or self.lag_step < 1:
            raise ValueError("n_lags must be an integer >= 0 and lag_step an integer >= 1.")
        X, Y = check_pair(X, Y, same_length=True)
        self.lags_ = np.arange(-self.n_lags, self.n_lags + 1) * int(self.lag_step)
        self.x_mean_, self.x_scale_ = channel_stats(X)
        self.y_mean_, self.y_scale_ = channel_stats(Y)
        self.n_eeg_channels_, self.n_meg_channels_ = X.shape[1], Y.shape[1]
        F = lagged_features((X - self.x_mean_[:, None]) / self.x_scale_[:, None], self.lags_)
        Ys = ((Y - self.y_mean_[:, None]) / self.y_scale_[:, None]).transpose(0, 2, 1)
        self.ridge_ = RidgeCV(alphas=np.asarray(self.alphas), alpha_per_target=True)
        self.ridge_.fit(F, Ys.reshape(-1, Y.shape[1]))
        return self

    def predict(self, X):
        """Predict MEG windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)

        Returns
        -------
        Y_pred : ndarray, shape (n_windows, n_meg, n_times)
        """
        check_is_fitted(self, "ridge_")
        X = check_eeg(X, self.n_eeg_channels_)
        n, _, t = X.shape
        F = lagged_features((X - self.x_mean_[:, None]) / self.x_scale_[:, None], self.lags_)
        Ys = self.ridge_.predict(F).reshape(n, t, -1).transpose(0, 2, 1)
        return Ys * self.y_scale_[:, None] + self.y_mean_[:, None]
