"""Reduced-rank ridge baseline for EEG->MEG."""

import numpy as np
import pytest
from sklearn.base import clone

from eegfm_sklearn.eeg2meg.baselines import ReducedRankRidgeEEGToMEG, RidgeEEGToMEG
from eegfm_sklearn.eeg2meg.metrics import channel_r2


def low_rank_pair(rank, n_windows=40, n_in=10, n_out=30, n_times=20, noise=0.0, seed=0):
    """EEG windows and MEG = (rank-``rank`` map) @ EEG + white noise."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n_out, rank)) @ rng.normal(size=(rank, n_in))
    X = rng.normal(size=(n_windows, n_in, n_times))
    Y = np.einsum("oc,nct->not", A, X) + noise * rng.normal(size=(n_windows, n_out, n_times))
    return X, Y


def test_full_rank_is_ridge():
    X, Y = low_rank_pair(3, noise=1.0)
    ridge = RidgeEEGToMEG(n_lags=1).fit(X, Y)
    rrr = ReducedRankRidgeEEGToMEG(rank=Y.shape[1], n_lags=1).fit(X, Y)
    assert rrr.rank_ == Y.shape[1]
    np.testing.assert_allclose(rrr.coef_, ridge.coef_, atol=1e-10)
    np.testing.assert_allclose(rrr.predict(X), ridge.predict(X), rtol=1e-8)


def test_fixed_rank_recovers_a_low_rank_map():
    X, Y = low_rank_pair(2)
    rrr = ReducedRankRidgeEEGToMEG(rank=2, alphas=(1e-10,)).fit(X, Y)
    assert np.linalg.matrix_rank(rrr.coef_, tol=1e-8 * np.abs(rrr.coef_).max()) == 2
    assert np.linalg.matrix_rank(rrr.ridge_coef_, tol=1e-8 * np.abs(rrr.coef_).max()) == 2
    Xt, Yt = low_rank_pair(2, seed=0, n_windows=45)
    np.testing.assert_allclose(channel_r2(Yt[40:], rrr.predict(Xt[40:])), 1.0, atol=1e-8)


def test_low_rank_beats_ridge_on_few_noisy_samples():
    # 300 weights from 60 samples per channel at SNR 1 vs 80 free parameters: the projection
    # removes most of the estimation noise.
    X, Y = low_rank_pair(2, n_windows=3, noise=3.0, seed=1)
    Xt, Yt = low_rank_pair(2, n_windows=20, noise=3.0, seed=1)  # same map, fresh draws below
    Xt, Yt = Xt[3:], Yt[3:]
    ridge = RidgeEEGToMEG(cv=3).fit(X, Y)
    rrr = ReducedRankRidgeEEGToMEG(rank=2, cv=3).fit(X, Y)
    assert rrr.score(Xt, Yt) > ridge.score(Xt, Yt)


def test_cross_validated_rank_does_not_drop_signal():
    X, Y = low_rank_pair(3, noise=0.5, seed=2)
    rrr = ReducedRankRidgeEEGToMEG(rank=(1, 2, 3, 5, 10, 30)).fit(X, Y)
    # Below the true rank a whole signal direction is lost: far larger validation error.
    assert rrr.rank_ >= 3
    # Candidates above the MEG channel count are dropped; the one left is used without CV.
    assert ReducedRankRidgeEEGToMEG(rank=(1, 500)).fit(X, Y).rank_ == 1


def test_parameters_and_errors():
    X, Y = low_rank_pair(2, n_windows=10)
    est = ReducedRankRidgeEEGToMEG(rank=4, n_lags=2)
    assert clone(est).get_params()["rank"] == 4
    assert est.fit(X, Y).predict(X).shape == Y.shape
    with pytest.raises(ValueError, match="exceeds the 30 MEG channels"):
        ReducedRankRidgeEEGToMEG(rank=31).fit(X, Y)
    with pytest.raises(ValueError, match="positive integer"):
        ReducedRankRidgeEEGToMEG(rank=0).fit(X, Y)
    with pytest.raises(ValueError, match="positive integer"):
        ReducedRankRidgeEEGToMEG(rank=2.5).fit(X, Y)
    with pytest.raises(ValueError, match="Every candidate"):
        ReducedRankRidgeEEGToMEG(rank=(40, 50)).fit(X, Y)
