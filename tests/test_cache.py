"""Embedding cache: computed once across folds, never stale, process-safe."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

import eegfm_sklearn.estimators.base as base_module
import eegfm_sklearn.estimators.transformer as transformer_module
from eegfm_sklearn import FoundationTransformer
from eegfm_sklearn.backbone import CardModule
from eegfm_sklearn.cache import MemoryStore

from conftest import tiny


@pytest.fixture(autouse=True)
def _empty_memory_cache():
    MemoryStore.clear()
    yield
    MemoryStore.clear()


@pytest.fixture
def counters(monkeypatch):
    """Count windows sent through a backbone and backbones built."""
    counts = {"windows": 0, "builds": 0}
    real_predict, real_init = transformer_module.predict_batches, CardModule.__init__

    def predict(module, X, *a, **k):
        counts["windows"] += len(X)
        return real_predict(module, X, *a, **k)

    def init(self, *a, **k):
        counts["builds"] += 1
        real_init(self, *a, **k)

    monkeypatch.setattr(transformer_module, "predict_batches", predict)
    monkeypatch.setattr(base_module, "predict_batches", predict)
    monkeypatch.setattr(CardModule, "__init__", init)
    return counts


def _pipe(data, **extra):
    params = tiny("labram", sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, **extra)
    return make_pipeline(FoundationTransformer(**params), LogisticRegression())


def test_each_window_embedded_once_across_folds(eegmat_small, counters):
    eegmat = eegmat_small
    cv = GroupKFold(4)
    cached = cross_val_score(_pipe(eegmat, cache="memory"), eegmat.X, eegmat.y, groups=eegmat.groups, cv=cv)
    n = len(eegmat.X)
    # one pass over the data + a one-window probe to learn the embedding size; one backbone built
    assert counters == {"windows": n + 1, "builds": 1}
    plain = cross_val_score(_pipe(eegmat), eegmat.X, eegmat.y, groups=eegmat.groups, cv=cv)
    np.testing.assert_allclose(cached, plain, atol=1e-6)
    assert counters["windows"] > 4 * n  # without a cache: every fold embeds train + test again


def test_a_different_configuration_never_reads_stale_embeddings(eegmat_small):
    X = eegmat_small.X
    base = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0, cache="memory")
    first = FoundationTransformer(**base).fit(X).transform(X)
    same = FoundationTransformer(**base).fit(X).transform(X)
    np.testing.assert_array_equal(first, same)
    reseeded = FoundationTransformer(**{**base, "random_state": 1}).fit(X).transform(X)
    assert not np.allclose(first, reseeded)
    bigger = FoundationTransformer(**{**base, "model_kwargs": {"num_layers": 2, "num_heads": 2}})
    assert not np.allclose(first, bigger.fit(X).transform(X))
    subset = FoundationTransformer(**{**base, "ch_names": eegmat_small.ch_names[:10]}).fit(X[:, :10])
    assert not np.allclose(first, subset.transform(X[:, :10]))
    unseeded = {**base, "random_state": None}
    a = FoundationTransformer(**unseeded).fit(X).transform(X)
    b = FoundationTransformer(**unseeded).fit(X).transform(X)
    assert not np.allclose(a, b)  # fresh random weights each fit: nothing shared


def test_cached_values_equal_uncached(eegmat_small):
    params = tiny("bendr", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    plain = FoundationTransformer(**params).fit(eegmat_small.X).transform(eegmat_small.X)
    cached = FoundationTransformer(**params, cache="memory").fit(eegmat_small.X)
    np.testing.assert_allclose(cached.transform(eegmat_small.X), plain, atol=1e-5)
    np.testing.assert_allclose(cached.transform(eegmat_small.X[::-1]), plain[::-1], atol=1e-5)


def test_directory_cache_with_process_parallel_folds(eegmat_small, tmp_path):
    cv = GroupKFold(2)
    args = (eegmat_small.X, eegmat_small.y)
    parallel = cross_val_score(_pipe(eegmat_small, cache=str(tmp_path)), *args, groups=eegmat_small.groups,
                               cv=cv, n_jobs=2)
    files = list(tmp_path.glob("*/*.npy"))
    assert len(files) == len(eegmat_small.X)  # one file per window, however many workers wrote
    assert not list(tmp_path.glob("*/*.tmp"))
    again = cross_val_score(_pipe(eegmat_small, cache=str(tmp_path)), *args, groups=eegmat_small.groups, cv=cv)
    plain = cross_val_score(_pipe(eegmat_small), *args, groups=eegmat_small.groups, cv=cv)
    np.testing.assert_allclose(parallel, plain, atol=1e-6)
    np.testing.assert_allclose(again, plain, atol=1e-6)


def test_fit_from_cache_builds_nothing_until_a_miss(eegmat_small, counters):
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0,
                  cache="memory")
    half = len(eegmat_small.X) // 2
    FoundationTransformer(**params).fit(eegmat_small.X).transform(eegmat_small.X[:half])
    assert counters["builds"] == 1
    est = FoundationTransformer(**params).fit(eegmat_small.X)
    est.transform(eegmat_small.X[:half])
    assert counters["builds"] == 1 and "module_" not in vars(est)
    est.transform(eegmat_small.X)  # a miss: built now, once
    assert counters["builds"] == 2
    assert est.backbone_ is est.module_.backbone


def test_bad_cache_value(eegmat_small):
    est = FoundationTransformer(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                       cache=3))
    with pytest.raises(ValueError, match=r"'cache' parameter of FoundationTransformer must be None.*Got 3"):
        est.fit(eegmat_small.X)
