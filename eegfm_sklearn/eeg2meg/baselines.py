"""Linear EEG->MEG baselines with the same window API as the transformer."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..estimators.params import Satisfies
from ._validation import channel_stats, check_eeg, check_pair
from .scoring import EEG2MEGScoreMixin


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


def _gram(Xs, Ys, lags, batch=64):
    """``F.T @ F`` and ``F.T @ Y`` of the lagged design, accumulated over window batches."""
    p = Xs.shape[1] * len(lags)
    xtx, xty = np.zeros((p, p)), np.zeros((p, Ys.shape[1]))
    for i in range(0, len(Xs), batch):
        F = lagged_features(Xs[i : i + batch], lags)
        Y = Ys[i : i + batch].transpose(0, 2, 1).reshape(-1, Ys.shape[1])
        xtx += F.T @ F
        xty += F.T @ Y
    return xtx, xty


def _positive_reals(value):
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return arr.ndim == 1 and arr.size > 0 and bool(np.all(np.isfinite(arr) & (arr > 0)))


RIDGE_PARAMS = {
    "n_lags": [Interval(Integral, 0, None, closed="left")],
    "lag_step": [Interval(Integral, 1, None, closed="left")],
    "alphas": [Satisfies(_positive_reals, "a non-empty 1-D sequence of finite positive floats")],
    "cv": [Interval(Integral, 2, None, closed="left")],
}


class RidgeEEGToMEG(EEG2MEGScoreMixin, RegressorMixin, BaseEstimator):
    """Ridge regression from EEG samples (optionally time-lagged) to MEG samples.

    With ``n_lags=0`` each MEG sample is a linear mix of the EEG samples at the
    same instant (the quasi-static forward model says this is the right form for
    shared sources). With ``n_lags=L`` the EEG from ``t - L*lag_step`` to
    ``t + L*lag_step`` is used: a linear spatio-temporal filter. The ridge
    penalty is chosen per MEG channel by ``cv``-fold cross-validation over
    contiguous blocks of windows (leave-one-sample-out would be fooled by the
    autocorrelation of neighbouring samples).

    Parameters
    ----------
    n_lags : int, default=0
        Lags on each side of 0 (0: instantaneous).
    lag_step : int, default=1
        Samples between consecutive lags.
    alphas : sequence of float, default=np.logspace(-6, 2, 17)
        Candidate penalties on the mean squared error of standardised data
        (the penalty on the summed error is ``alpha * n_samples``), so one
        grid suits any amount of data.
    cv : int, default=5
        Folds for choosing the penalty (by contiguous window blocks).

    Attributes
    ----------
    coef_ : ndarray, shape (n_eeg * n_lags_total, n_meg)
        Weights on standardised data (rows: lag-major, then EEG channel).
    alpha_ : ndarray, shape (n_meg,)
        Chosen penalty per MEG channel.
    lags_ : ndarray of int
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        Channel statistics.
    n_eeg_channels_, n_meg_channels_ : int
    n_features_in_ : int
        ``n_eeg_channels_`` under scikit-learn's name.
    """

    _parameter_constraints: dict = RIDGE_PARAMS  # checked by fit before anything else

    def __init__(self, n_lags=0, lag_step=1, alphas=tuple(np.logspace(-6, 2, 17)), cv=5):
        self.n_lags = n_lags
        self.lag_step = lag_step
        self.alphas = alphas
        self.cv = cv

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y):
        """Fit on paired windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
            EEG windows (any units: each channel is standardised).
        Y : array-like, shape (n_windows, n_meg, n_times)
            MEG windows over the same spans, with the same number of
            samples as ``X``.

        Returns
        -------
        self : RidgeEEGToMEG
            The fitted regressor.
        """
        X, Y = check_pair(X, Y, same_length=True)
        n = X.shape[0]
        cv = int(self.cv)
        if cv > n:
            raise ValueError(f"cv={cv} folds need at least {cv} windows; got {n}. Lower cv or pass more windows.")
        self.lags_ = np.arange(-int(self.n_lags), int(self.n_lags) + 1) * int(self.lag_step)
        self.x_mean_, self.x_scale_ = channel_stats(X)
        self.y_mean_, self.y_scale_ = channel_stats(Y)
        self.n_eeg_channels_, self.n_meg_channels_ = X.shape[1], Y.shape[1]
        self.n_features_in_ = self.n_eeg_channels_
        Xs = (X - self.x_mean_[:, None]) / self.x_scale_[:, None]
        Ys = (Y - self.y_mean_[:, None]) / self.y_scale_[:, None]
        alphas = np.asarray(self.alphas, dtype=float)

        # Sufficient statistics per fold: every candidate is then scored in p-dim space.
        folds = np.array_split(np.arange(n), cv)
        stats = [_gram(Xs[f], Ys[f], self.lags_) + ((Ys[f] ** 2).sum(axis=(0, 2)),) for f in folds]
        xtx_all = sum(s[0] for s in stats)
        xty_all = sum(s[1] for s in stats)
        err = np.zeros((alphas.size, Y.shape[1]))
        for fold, (xtx_v, xty_v, yty_v) in zip(folds, stats):
            evals, evecs = np.linalg.eigh(xtx_all - xtx_v)
            proj = evecs.T @ (xty_all - xty_v)
            n_train = (n - len(fold)) * X.shape[2]
            for a, alpha in enumerate(alphas):
                W = evecs @ (proj / (evals + alpha * n_train)[:, None])
                err[a] += yty_v - 2 * (W * xty_v).sum(0) + (W * (xtx_v @ W)).sum(0)
        best = err.argmin(axis=0)
        self.alpha_ = alphas[best]
        evals, evecs = np.linalg.eigh(xtx_all)
        proj = evecs.T @ xty_all
        self.coef_ = np.zeros_like(xty_all)
        for a in np.unique(best):
            cols = best == a
            self.coef_[:, cols] = evecs @ (proj[:, cols] / (evals + alphas[a] * n * X.shape[2])[:, None])
        return self

    def predict(self, X):
        """Predict MEG windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
            EEG windows in the units of the training ``X``; ``n_times``
            may differ from the training windows'.

        Returns
        -------
        Y_pred : ndarray of float64, shape (n_windows, n_meg, n_times)
            MEG in the units of the training ``Y``.
        """
        check_is_fitted(self, "coef_")
        X = check_eeg(X, self.n_eeg_channels_)
        n, _, t = X.shape
        F = lagged_features((X - self.x_mean_[:, None]) / self.x_scale_[:, None], self.lags_)
        Ys = (F @ self.coef_).reshape(n, t, -1).transpose(0, 2, 1)
        return Ys * self.y_scale_[:, None] + self.y_mean_[:, None]


class ReducedRankRidgeEEGToMEG(RidgeEEGToMEG):
    """Lagged ridge whose EEG->MEG map is restricted to ``rank`` output directions.

    MEG sensors see a few hundred mixtures of far fewer effective sources, so
    the map from EEG to standardised MEG should have low rank. This fits
    :class:`RidgeEEGToMEG` (penalty per MEG channel by cross-validation),
    then projects its predictions onto the ``rank`` leading principal
    directions of the fitted MEG (reduced-rank ridge regression): with
    ``W`` the ridge weights and ``V`` the top eigenvectors of
    ``W.T @ F.T @ F @ W``, the weights become ``W @ V @ V.T``. ``rank`` equal
    to the number of MEG channels gives ridge back.

    Parameters
    ----------
    rank : int or sequence of int, default=(1, 2, 5, 10, 20, 40, 80)
        Rank of the map, or candidates chosen by ``cv``-fold cross-validation
        over contiguous window blocks (the fold's own ridge weights, the
        total squared error over all MEG channels). Candidates above the
        number of MEG channels are dropped; a single value above it is an
        error.
    n_lags, lag_step, alphas, cv
        As in :class:`RidgeEEGToMEG`.

    Attributes
    ----------
    coef_ : ndarray, shape (n_eeg * n_lags_total, n_meg)
        Reduced-rank weights on standardised data.
    rank_ : int
        Rank used.
    ridge_coef_ : ndarray, shape (n_eeg * n_lags_total, n_meg)
        The full-rank ridge weights.
    alpha_, lags_, x_mean_, x_scale_, y_mean_, y_scale_, n_eeg_channels_, n_meg_channels_
        As in :class:`RidgeEEGToMEG`.
    """

    def __init__(
        self, rank=(1, 2, 5, 10, 20, 40, 80), n_lags=0, lag_step=1,
        alphas=tuple(np.logspace(-6, 2, 17)), cv=5,
    ):
        self.rank = rank
        super().__init__(n_lags=n_lags, lag_step=lag_step, alphas=alphas, cv=cv)

    def _candidate_ranks(self, n_meg):
        ranks = np.atleast_1d(np.asarray(self.rank))
        if ranks.size == 0 or ranks.ndim != 1 or not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 1:
            raise ValueError(f"rank must be a positive integer or a sequence of them; got {self.rank!r}.")
        if ranks.size == 1 and ranks[0] > n_meg:
            raise ValueError(f"rank={int(ranks[0])} exceeds the {n_meg} MEG channels; use at most {n_meg}.")
        ranks = np.unique(ranks[ranks <= n_meg])
        if ranks.size == 0:
            raise ValueError(f"Every candidate rank in {self.rank!r} exceeds the {n_meg} MEG channels.")
        return ranks

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
        X, Y = check_pair(X, Y, same_length=True)
        ranks = self._candidate_ranks(Y.shape[1])
        super().fit(X, Y)
        Xs = (X - self.x_mean_[:, None]) / self.x_scale_[:, None]
        Ys = (Y - self.y_mean_[:, None]) / self.y_scale_[:, None]
        n, t = X.shape[0], X.shape[2]
        folds = np.array_split(np.arange(n), int(self.cv))
        stats = [_gram(Xs[f], Ys[f], self.lags_) + ((Ys[f] ** 2).sum(),) for f in folds]
        xtx_all = sum(s[0] for s in stats)
        xty_all = sum(s[1] for s in stats)
        if ranks.size == 1:
            best = int(ranks[0])
        else:
            err = np.zeros(ranks.size)
            for fold, (xtx_v, xty_v, yty_v) in zip(folds, stats):
                xtx_t = xtx_all - xtx_v
                evals, evecs = np.linalg.eigh(xtx_t)
                n_train = (n - len(fold)) * t
                W = evecs @ ((evecs.T @ (xty_all - xty_v)) / (evals[:, None] + self.alpha_[None] * n_train))
                for i, r in enumerate(ranks):
                    Wr = W @ _leading_projector(W, xtx_t, r)
                    err[i] += yty_v - 2 * (Wr * xty_v).sum() + (Wr * (xtx_v @ Wr)).sum()
            best = int(ranks[err.argmin()])
        self.ridge_coef_ = self.coef_
        self.coef_ = self.ridge_coef_ @ _leading_projector(self.ridge_coef_, xtx_all, best)
        self.rank_ = best
        return self


def _leading_projector(W, xtx, rank):
    """``V V.T`` for the ``rank`` leading eigenvectors of the fitted values' Gram ``W.T xtx W``."""
    evals, evecs = np.linalg.eigh(W.T @ xtx @ W)
    V = evecs[:, np.argsort(evals)[::-1][:rank]]
    return V @ V.T


def lagged_ridge_conv_weights(Xs, Ys, n_lags):
    """Lagged-ridge solution as ``conv1d`` weights ``(n_out, n_in, 2 * n_lags + 1)``.

    ``Xs`` and ``Ys`` are nearly standardised windows of equal length.
    """
    ridge = RidgeEEGToMEG(n_lags=n_lags).fit(Xs, Ys)
    n_in, n_out = Xs.shape[1], Ys.shape[1]
    # coef_ rows are (lag, channel) with lag k using x[t - k]; conv1d tap j uses x[t + j - n_lags].
    coef = ridge.coef_.reshape(2 * n_lags + 1, n_in, n_out)[::-1]
    # Undo the ridge's own standardisation (Xs, Ys are already nearly standard).
    w = coef.transpose(2, 1, 0) * ridge.y_scale_[:, None, None] / ridge.x_scale_[None, :, None]
    return np.ascontiguousarray(w)


def init_linear_path(network, eeg, meg) -> None:
    """Start a network's linear path (if it has one) at the lagged ridge solution of the training windows.

    Parameters
    ----------
    network : EEGToMEGNetwork
        Networks with a ``linear_path_lags`` that is not None get ``set_linear_path`` called.
    eeg, meg : ndarray of float32
        Standardised training windows ``(n, n_chans_in, T)`` and ``(n, n_chans_out, T_out)``.
    """
    lags = getattr(network, "linear_path_lags", None)
    if lags is None:
        return
    import torch

    with torch.no_grad():
        aligned = network.align_input(torch.from_numpy(eeg), meg.shape[2]).numpy()
    network.set_linear_path(lagged_ridge_conv_weights(aligned, meg, lags))

