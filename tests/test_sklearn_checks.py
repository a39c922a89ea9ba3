"""scikit-learn's own estimator checks, run on the three estimators.

The checks build 2-D data (n_samples, n_features); the estimators read 3-D
windows. Each estimator is checked through a subclass that only turns every
2-D row into a window (the row tiled along time, over 4 channels at the
model's rate) before calling the estimator's own method: validation, tags,
params, fitting and outputs are the estimator's. Anything that is not a
2-D numeric array (sparse, 1-D, 3-D) reaches the estimator unchanged, so its
own errors answer. Tiny LaBraM, one epoch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.estimator_checks import parametrize_with_checks

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer

from conftest import tiny

CHANNELS = ("C3", "C4", "Cz", "Fz")
SFREQ = 200.0
N_TIMES = 200  # LaBraM's shortest window: one 200-sample patch (longer ones are cropped to it)


def as_windows(X):
    """(n, f) rows -> (n, 4, 200 + f) windows, each row tiled along time; other input unchanged.

    The window length carries the column count, so data with another number of
    columns than in fit reaches the estimator as windows of another length,
    which it must refuse (LaBraM crops every window to 200 samples).
    """
    if sp.issparse(X) or not hasattr(X, "__len__") and not hasattr(X, "__array__"):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[1] == 0:
        return arr
    n_times = N_TIMES + arr.shape[1]
    size = len(CHANNELS) * n_times
    reps = -(-size // arr.shape[1])
    return np.tile(arr, (1, reps))[:, :size].reshape(len(arr), len(CHANNELS), n_times)


class _Rows:
    """Read the checks' 2-D rows as windows (see the module docstring)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = False
        # One epoch of a tiny network (kept short for speed) is not held to the checks'
        # accuracy / R² floors on their toy data; every other assertion of those checks runs.
        for kind in (tags.classifier_tags, tags.regressor_tags):
            if kind is not None:
                kind.poor_score = True
        return tags

    def fit(self, X, y=None):
        return super().fit(as_windows(X), y)


class RowsTransformer(_Rows, FoundationTransformer):
    def transform(self, X):
        return super().transform(as_windows(X))

    def fit_transform(self, X, y=None):
        return super().fit_transform(as_windows(X), y)


class RowsClassifier(_Rows, FoundationClassifier):
    def predict(self, X):
        return super().predict(as_windows(X))

    def predict_proba(self, X):
        return super().predict_proba(as_windows(X))

    def decision_function(self, X):
        return super().decision_function(as_windows(X))


class RowsRegressor(_Rows, FoundationRegressor):
    def predict(self, X):
        return super().predict(as_windows(X))


def _params(**extra):
    return tiny("labram", sfreq=SFREQ, ch_names=list(CHANNELS), random_state=0, **extra)


ESTIMATORS = [
    RowsTransformer(**_params()),
    RowsClassifier(**_params(max_epochs=1, lr=1e-3)),
    RowsRegressor(**_params(max_epochs=1, lr=1e-3)),
]

# Checks that fail because of the harness, each with its reason. Nothing else may fail.
_N_FEATURES = ("n_features_in_ counts the channels of the harness's windows (4), not the check's 2-D "
               "columns (another column count is refused, as another window length, with the "
               "estimator's own message)")
_EMPTY = ("the check wants the 2-D wording '0 feature(s) (shape=(n, 0))'; the estimator reports the "
          "empty windows it receives in 3-D")
HARNESS_FAILURES = {
    "check_n_features_in": _N_FEATURES,
    "check_n_features_in_after_fitting": _N_FEATURES,
    "check_estimators_empty_data_messages": _EMPTY,
}


def expected_failed_checks(estimator):
    return dict(HARNESS_FAILURES)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_check(estimator, check):
    check(estimator)
