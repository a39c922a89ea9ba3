"""``n_threads``: one setting for torch's threads and the adapter's BLAS/OpenMP pools."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from threadpoolctl import threadpool_info, threadpool_limits

from eegfm_sklearn import FoundationClassifier, FoundationTransformer
from eegfm_sklearn.preprocessing.adapter import InputAdapter

from conftest import tiny


def _pools():
    """(torch threads, sizes of every BLAS/OpenMP pool) right now."""
    return torch.get_num_threads(), sorted({p["num_threads"] for p in threadpool_info()})


@pytest.fixture
def seen(monkeypatch):
    """Thread settings observed inside every adapter transform."""
    calls = []
    original = InputAdapter.transform

    def spy(self, X, *args, **kwargs):
        calls.append(_pools())
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(InputAdapter, "transform", spy)
    return calls


def test_params_clone_and_validation(eegmat_small):
    est = FoundationTransformer("labram", n_threads=1)
    assert est.get_params()["n_threads"] == 1 and clone(est).n_threads == 1
    assert FoundationClassifier("biot").get_params()["n_threads"] is None
    assert clone(FoundationClassifier("biot", n_threads=3)).get_params()["n_threads"] == 3
    for bad in (0, -1, 1.5, "2"):
        est = FoundationTransformer(**tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                           n_threads=bad))
        with pytest.raises(ValueError, match="'n_threads' parameter of FoundationTransformer must be None or an "
                                             "int in the range \\[1, inf\\)"):
            est.fit(eegmat_small.X[:2])


def test_adapter_and_forward_run_under_the_setting(eegmat_small, seen):
    before = _pools()
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    est = FoundationTransformer(**params, n_threads=1).fit(eegmat_small.X[:4])
    seen.clear()
    out = est.transform(eegmat_small.X[:4])
    assert seen and all(s == (1, [1]) for s in seen)  # torch and every native pool: 1 thread
    assert _pools() == before  # put back afterwards
    est.set_params(n_threads=2)
    seen.clear()
    np.testing.assert_allclose(est.transform(eegmat_small.X[:4]), out, rtol=1e-5, atol=1e-5)
    assert seen and all(s == (2, [2]) for s in seen)


def test_none_makes_native_pools_follow_torch(eegmat_small, seen):
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    est = FoundationTransformer(**params).fit(eegmat_small.X[:2])
    previous = torch.get_num_threads()
    # pools of 2 before the call (a test worker may run on one thread), so that a limit can be told apart
    with threadpool_limits(2):
        if max(p["num_threads"] for p in threadpool_info()) < 2:
            pytest.skip("the native pools cannot hold 2 threads here")  # a 1-core build of BLAS/OpenMP
        torch.set_num_threads(1)
        try:
            seen.clear()
            est.transform(eegmat_small.X[:2])
        finally:
            torch.set_num_threads(previous)
    assert seen and all(s == (1, [1]) for s in seen)


def test_fine_tuning_runs_under_the_setting(eegmat_small, seen):
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    before = _pools()
    est = FoundationClassifier(**params, max_epochs=1, batch_size=4, n_threads=1)
    est.fit(eegmat_small.X[:8], eegmat_small.y[:8])
    assert seen and all(s == (1, [1]) for s in seen)
    assert _pools() == before
