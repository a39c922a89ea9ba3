"""Folds fan out through joblib: process workers and a dask.distributed cluster."""

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from eegfm_sklearn import FoundationClassifier, FoundationTransformer

from conftest import tiny


def _cv(est, data, **kw):
    return cross_val_score(est, data.X, data.y, groups=data.groups, cv=GroupKFold(2), **kw)


@pytest.mark.slow  # worker processes
def test_fine_tuning_folds_in_processes_match_sequential(eegmat_small):
    clf = FoundationClassifier(**tiny("bendr", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                      random_state=0, max_epochs=1))
    np.testing.assert_allclose(_cv(clf, eegmat_small, n_jobs=2), _cv(clf, eegmat_small), atol=1e-6)


@pytest.mark.slow  # a dask cluster of worker processes
def test_dask_distributed_backend(eegmat_small, tmp_path):
    from distributed import Client, LocalCluster

    pipe = make_pipeline(
        FoundationTransformer(**tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                     random_state=0, cache=str(tmp_path))),
        LogisticRegression(),
    )
    sequential = _cv(pipe, eegmat_small)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster), joblib.parallel_backend("dask"):
        distributed = _cv(pipe, eegmat_small, n_jobs=2)
    np.testing.assert_allclose(distributed, sequential, atol=1e-6)
