"""The filters + resampling + crop as one matrix (``preprocessing/fused.py``) against the steps."""

import dataclasses

import numpy as np
import pytest

from eegfm_sklearn import get_model_card
from eegfm_sklearn.preprocessing import adapter as adapter_module
from eegfm_sklearn.preprocessing.adapter import InputAdapter
from eegfm_sklearn.preprocessing.fused import MAX_ELEMENTS, worth_fusing


def _steps(ad, X, monkeypatch):
    """``ad.transform(X)`` on the step-by-step path (filters, channel map, resampling one after the other)."""
    with monkeypatch.context() as m:
        m.setattr(adapter_module, "worth_fusing", lambda *a: False)
        return ad.transform(X)


@pytest.mark.parametrize("model, sfreq", [("signal_jepa", None), ("pbt", None), ("zuna", None),
                                          ("signal_jepa", 173.61)])
def test_fused_matrix_equals_the_steps_on_real_eeg(eegmat_small, monkeypatch, model, sfreq):
    X = eegmat_small.X[:8]
    ad = InputAdapter(get_model_card(model), sfreq or eegmat_small.sfreq, eegmat_small.ch_names, "uV").fit(X)
    n_cols = min(ad.n_times_out_, ad.n_times_resampled_)
    assert worth_fusing(ad.filter_plan_, ad.n_times_in_, n_cols)  # these cards' IIR high-pass: fused
    fused, steps = ad.transform(X), _steps(ad, X, monkeypatch)
    assert fused.shape == steps.shape
    # the same linear map in float32: a few float32 roundings of the signal's scale apart
    np.testing.assert_allclose(fused, steps, rtol=0, atol=1e-5 * np.abs(steps).max())


def test_fused_path_maps_channels_first_when_inputs_outnumber_slots(eegmat_small, monkeypatch):
    # a card with fixed slots and an IIR high-pass: an unused input is dropped before the product
    card = get_model_card("labram")
    card = dataclasses.replace(card, filters=get_model_card("signal_jepa").filters)
    X = eegmat_small.X[:4]
    X = np.concatenate([X, X[:, :1] * 0.5], axis=1)
    ad = InputAdapter(card, eegmat_small.sfreq, list(eegmat_small.ch_names) + ["EKG"], "uV").fit(X)
    assert ad.matrix_.shape[1] > ad.matrix_.shape[0]
    fused, steps = ad.transform(X), _steps(ad, X, monkeypatch)
    np.testing.assert_allclose(fused, steps, rtol=0, atol=1e-5 * np.abs(steps).max())


def test_fused_windows_do_not_depend_on_the_windows_beside_them(eegmat_small):
    # 44 windows: several whole products and a padded rest; on this machine's BLAS one product over
    # all rows first changes a window's last bits at 16 windows of 19 channels, not at 12
    X = eegmat_small.X[:44]
    ad = InputAdapter(get_model_card("signal_jepa"), eegmat_small.sfreq, eegmat_small.ch_names, "uV").fit(X)
    one_by_one = np.concatenate([ad.transform(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_array_equal(ad.transform(X), one_by_one)


def test_long_windows_and_cards_without_an_iir_keep_the_steps(eegmat_small):
    sj = InputAdapter(get_model_card("signal_jepa"), 500.0, eegmat_small.ch_names, "uV").fit(eegmat_small.X[:2])
    plan = sj.filter_plan_
    assert worth_fusing(plan, 2000, 512)
    assert not worth_fusing(plan, 2000, MAX_ELEMENTS // 2000 + 1)  # the matrix would be too large
    labram = InputAdapter(get_model_card("labram"), 500.0, eegmat_small.ch_names, "uV").fit(eegmat_small.X[:2])
    assert not worth_fusing(labram.filter_plan_, 2000, 800)  # FIR + projection only: the steps are as fast
