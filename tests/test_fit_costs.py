"""Fixed costs a fit (each fold of a cross-validation) need not pay."""

import dataclasses

import numpy as np
import pytest

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.preprocessing.adapter import InputAdapter
from eegfm_sklearn.utils.cache import MemoryStore

from conftest import tiny


def _count_passes(monkeypatch):
    calls = []
    original = InputAdapter._before_scaling

    def spy(self, X, *args, **kwargs):
        calls.append(len(X))
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(InputAdapter, "_before_scaling", spy)
    return calls


def test_adapter_fit_adapts_the_training_windows_only_for_scalings_that_learn(eegmat_small, monkeypatch):
    X = eegmat_small.X[:8]
    calls = _count_passes(monkeypatch)
    labram = get_model_card("labram")  # µV / 100: nothing to learn
    assert not labram.scaling.learns
    ad = InputAdapter(labram, eegmat_small.sfreq, eegmat_small.ch_names).fit(X)
    assert calls == [] and ad.stats_ == {}
    out = ad.transform(X)
    assert calls == [8] and np.isfinite(out).all()
    calls.clear()
    bendr = get_model_card("bendr")  # the authors' fixed dataset span for its SCALE channel
    assert not bendr.scaling.learns
    # a SCALE channel without a fixed span learns the training windows' limits
    bendr = dataclasses.replace(bendr, scaling=dataclasses.replace(bendr.scaling, span=None))
    assert bendr.scaling.learns
    ad = InputAdapter(bendr, eegmat_small.sfreq, eegmat_small.ch_names).fit(X)
    assert calls == [8] and set(ad.stats_) == {"data_min", "data_max"}


@pytest.mark.parametrize("cache", [None, "memory"])
def test_fit_transform_validates_once_and_equals_fit_then_transform(eegmat_small, monkeypatch, cache):
    # a pipeline's fit calls fit_transform on every fold's training windows: one check of them
    from eegfm_sklearn.estimators import base

    X = eegmat_small.X[:6]
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0,
                  cache=cache)
    expected = FoundationTransformer(**params).fit(X).transform(X)
    checks, original = [], base.check_eeg_input
    monkeypatch.setattr(base, "check_eeg_input", lambda *a, **k: checks.append(1) or original(*a, **k))
    MemoryStore.clear()
    est = FoundationTransformer(**params)
    out = est.fit_transform(X)
    assert len(checks) == 1
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(est.transform(X), expected)  # fitted state as after fit
    assert len(checks) == 2
