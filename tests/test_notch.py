"""The per-window notch at any rate and length, and the filters' batch form."""

import numpy as np
import pytest

from eegfm_sklearn import get_model_card
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing import notch
from eegfm_sklearn.preprocessing.filtering import plan_filters

from conftest import require_data


def _tone_left(y, t, freq, amplitude):
    """Amplitude of ``freq`` left in each row of ``y``, over ``amplitude`` (least squares)."""
    basis = np.stack([np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)], axis=1)
    coef = np.linalg.lstsq(basis, y.reshape(-1, y.shape[-1]).T.astype(np.float64), rcond=None)[0]
    return np.linalg.norm(coef, axis=0) / amplitude


@pytest.fixture(scope="module")
def eegmat_20s():
    """Real EEG, 20 s windows at 500 Hz (µV): the coarse-grid path's basis would be 1.6 M elements."""
    require_data("eegmat", "Subject00_1.edf")
    return load_eegmat(subjects=[0], window_seconds=20.0, download=False)


@pytest.mark.parametrize("detrend", [True, False])
def test_coarse_grid_equals_the_exact_projection_on_real_eeg(eegmat_20s, detrend):
    X = eegmat_20s.X[:2].astype(np.float32)
    t = np.arange(X.shape[-1]) / eegmat_20s.sfreq
    X = X + (20 * np.sin(2 * np.pi * 50.2 * t)).astype(np.float32)  # a line hum on top
    exact = notch.project_out(X, eegmat_20s.sfreq, detrend, (50.0,), exact=True)
    coarse = notch.project_out(X, eegmat_20s.sfreq, detrend, (50.0,), exact=False)
    removed = np.abs(X - exact).max()
    assert removed > 15  # the hum (and, detrending, the offsets) went
    # the same result within float32 rounding of the data's scale
    np.testing.assert_allclose(coarse, exact, rtol=0, atol=1e-5 * np.abs(X).max())


def test_coarse_grid_is_chosen_for_long_windows_at_high_rates_and_keeps_the_attenuation():
    sfreq, n = 5000.0, 300_000  # 60 s at 5 kHz: the exact basis would be 300 000 x 154
    assert notch.basis_elements(sfreq, n, True, (50.0,)) > notch.EXACT_MAX_ELEMENTS
    t = np.arange(n) / sfreq
    rng = np.random.default_rng(0)
    tones = (50.0, 50.4, 51.2, 45.0)
    x = rng.standard_normal((1, len(tones), n)).astype(np.float32)
    for i, f in enumerate(tones):
        x[0, i] += (20 * np.sin(2 * np.pi * f * t + i) + 3.0 + 1e-4 * i * np.arange(n)).astype(np.float32)
    y = notch.project_out(x, sfreq, True, (50.0,))
    left = [_tone_left(y[0, i], t, f, 20.0)[0] for i, f in enumerate(tones)]
    assert left[0] < 0.005 and left[1] < 0.005  # in the stop band (50 +- 0.625 Hz): removed
    assert left[2] > 0.95 and left[3] > 0.99  # outside it: kept
    assert np.abs(y.mean(axis=-1)).max() < 0.05  # offsets and drifts removed with the band


@pytest.mark.parametrize("model", ["labram", "signal_jepa", "pbt"])
def test_filters_on_a_batch_equal_the_filters_window_by_window(eegmat_small, model):
    # one pass over (windows, channels) gives each window what it gets alone
    X = eegmat_small.X[:6]
    plan = plan_filters(get_model_card(model), eegmat_small.sfreq, X.shape[-1])
    assert plan.active
    batch = plan.filter_windows(X)
    alone = np.concatenate([plan.filter_windows(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-5 * np.abs(alone).max())
