"""Every kind of bad input gets a clear error that says what to do."""

import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer

from conftest import tiny


@pytest.fixture
def est(eegmat_small):
    return FoundationTransformer(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names))


def test_wrong_ndim(est, eegmat_small):
    with pytest.raises(ValueError, match=r"3-D array \(n_trials, n_chans, n_times\).*X\[np.newaxis\]"):
        est.fit(eegmat_small.X[0])
    with pytest.raises(ValueError, match="3-D array"):
        est.fit(eegmat_small.X[..., None])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(est, eegmat_small, bad):
    X = eegmat_small.X.copy()
    X[0, 0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.fit(X)
    fitted = est.fit(eegmat_small.X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.transform(X)


def test_mismatched_ch_names_length(eegmat_small):
    est = FoundationTransformer(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names[:-1]))
    with pytest.raises(ValueError, match="ch_names has 18 names but X has 19 channels"):
        est.fit(eegmat_small.X)


def test_missing_sfreq_or_ch_names(eegmat_small):
    with pytest.raises(ValueError, match="Numpy input needs sfreq and ch_names"):
        FoundationTransformer(**tiny("biot")).fit(eegmat_small.X)
    with pytest.raises(ValueError, match="Numpy input needs ch_names"):
        FoundationTransformer(**tiny("biot", sfreq=500)).fit(eegmat_small.X)


def test_unknown_channel_names(eegmat_small):
    names = [f"chan{i}" for i in range(19)]
    for model in ("bendr", "biot", "labram"):
        est = FoundationTransformer(**tiny(model, sfreq=eegmat_small.sfreq, ch_names=names))
        with pytest.raises(ValueError, match="None of the channels.*Rename your channels to 10-20 names"):
            est.fit(eegmat_small.X)


def test_too_short_windows(eegmat_small):
    est = FoundationTransformer(**tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names))
    with pytest.raises(ValueError, match=r"too short for labram: 400 samples at 500 Hz \(0.80 s\)"):
        est.fit(eegmat_small.X[..., :400])


def test_window_length_differs_from_fit(est, eegmat_small):
    est.fit(eegmat_small.X)
    with pytest.raises(ValueError, match="1500 samples but the estimator was fitted on 2000"):
        est.transform(eegmat_small.X[..., :1500])


def test_empty_x(est, eegmat_small):
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(eegmat_small.X[:0])


def test_single_class(eegmat_small):
    clf = FoundationClassifier(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names))
    with pytest.raises(ValueError, match="single class .'rest'.*at least two"):
        clf.fit(eegmat_small.X, np.full(len(eegmat_small.X), "rest"))


def test_y_length_and_regression_targets(eegmat_small):
    clf = FoundationClassifier(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names))
    with pytest.raises(ValueError, match="48 windows but y has 47"):
        clf.fit(eegmat_small.X, eegmat_small.y[:-1])
    reg = FoundationRegressor(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names))
    y = np.ones(len(eegmat_small.X))
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        reg.fit(eegmat_small.X, y)


def test_feature_count_differs_from_fit(est, eegmat_small):
    est.fit(eegmat_small.X)
    with pytest.raises(ValueError, match="X has 18 channels but FoundationTransformer was fitted on 19"):
        est.transform(eegmat_small.X[:, :18])


def test_bad_param_values(eegmat_small):
    common = dict(sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names)
    with pytest.raises(ValueError, match="missing_channels='nearest'"):
        FoundationTransformer(**tiny("bendr", missing_channels="nearest", **common)).fit(eegmat_small.X)
    with pytest.raises(ValueError, match="units='volts' is not known"):
        FoundationTransformer(**tiny("bendr", units="volts", **common)).fit(eegmat_small.X)
    with pytest.raises(ValueError, match="Unknown model 'eegnet'"):
        FoundationTransformer(model="eegnet", **common).fit(eegmat_small.X)
