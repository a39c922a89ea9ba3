"""Fixed costs a fit (each fold of a cross-validation) need not pay."""

import dataclasses

import numpy as np

from eegfm_sklearn import get_model_card
from eegfm_sklearn.preprocessing.adapter import InputAdapter


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
