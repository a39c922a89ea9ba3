"""The adapter's fast kernels equal the library routines they stand in for."""

from fractions import Fraction

import mne
import numpy as np
import pytest
import scipy.signal

from eegfm_sklearn.resampling import PolyphaseResampler
from eegfm_sklearn.scaling import upper_quantile


@pytest.mark.parametrize("sfreq_in, sfreq_out", [(500, 200), (500, 256), (256, 200), (250, 256),
                                                 (1000, 200), (160, 200), (128, 250)])
def test_polyphase_equals_mne_on_real_eeg(eegmat_small, sfreq_in, sfreq_out):
    # EEGMAT is recorded at 500 Hz; other input rates reuse its samples as if recorded there.
    ratio = Fraction(sfreq_out, sfreq_in)
    # a length whose output is whole, so mne's length-derived ratio is the exact one
    X = eegmat_small.X[:3, :, : ratio.denominator * -(-1000 // ratio.denominator)]
    ours = PolyphaseResampler(ratio.numerator, ratio.denominator, X.shape[-1])(X.astype(np.float32))
    expected = mne.filter.resample(X, up=ratio.numerator, down=ratio.denominator, method="polyphase",
                                   axis=-1, verbose=False)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_polyphase_keeps_exact_ratio_for_odd_lengths(rng):
    # mne derives the ratio from a rounded output length (2001 -> 800 samples gives 800/2001);
    # the adapter keeps 2/5 and scipy's ceil(n * up / down) length.
    X = np.cumsum(rng.standard_normal((2, 3, 2001)), axis=-1)
    ours = PolyphaseResampler(2, 5, 2001)(X.astype(np.float32))
    expected = scipy.signal.resample_poly(X, 2, 5, axis=-1, padtype="reflect")
    assert ours.shape == expected.shape == (2, 3, 801)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_polyphase_rejects_windows_shorter_than_its_filter():
    with pytest.raises(ValueError, match="too short to resample"):
        PolyphaseResampler(2, 5, 10)


def test_polyphase_rejects_other_lengths():
    with pytest.raises(ValueError, match="Expected windows of 100 samples"):
        PolyphaseResampler(2, 5, 100)(np.zeros((1, 1, 99), np.float32))


@pytest.mark.parametrize("n", [1, 2, 7, 800, 1001])
@pytest.mark.parametrize("q", [0.0, 0.5, 0.95, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_upper_quantile_equals_numpy(rng, n, q, dtype):
    A = np.abs(rng.standard_normal((2, 3, n))).astype(dtype)
    ours = upper_quantile(A, q)
    expected = np.quantile(A, q, axis=-1, keepdims=True)
    assert ours.shape == expected.shape and ours.dtype == expected.dtype
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
