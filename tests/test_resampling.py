"""The adapter's fast kernels equal the library routines they stand in for."""

import warnings
from fractions import Fraction
from math import gcd

import mne
import numpy as np
import pytest
import scipy.signal

from eegfm_sklearn import ChannelWarning, get_model_card, list_models
from eegfm_sklearn.preprocessing.adapter import InputAdapter
from eegfm_sklearn.preprocessing.resampling import MAX_FACTOR, RATE_TOLERANCE, PolyphaseResampler, choose_ratio
from eegfm_sklearn.preprocessing.scaling import upper_quantile

from conftest import REPRESENTATIVE, require_data


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


# -- any sampling rate ---------------------------------------------------------
# The rates the issue names, then a log-spaced grid over 100 Hz - 5 kHz.
NAMED_RATES = (100.0, 128.0, 160.0, 173.61, 256.0, 300.3, 300.3074951171875, 512.0, 600.614990234375,
               1000.0, 5000.0)
GRID_RATES = NAMED_RATES + tuple(np.round(np.geomspace(100, 5000, 60), 3))
# Stated in docs/guide/montage.md: over 100 Hz - 5 kHz in 0.25 Hz steps the largest error is 11 ppm (99.9 % <= 1 ppm).
MAX_RATE_ERROR = 2e-5


def _card_rates():
    return sorted({get_model_card(m).sfreq for m in list_models()})


@pytest.mark.parametrize("sfreq_in, sfreq_out, up, down", [(500, 200, 2, 5), (160, 200, 5, 4), (5000, 200, 1, 25),
                                                         (128, 256, 2, 1), (5000, 256, 32, 625)])
def test_choose_ratio_is_exact_for_simple_rates(sfreq_in, sfreq_out, up, down):
    ratio = choose_ratio(sfreq_in, sfreq_out)
    assert (ratio.up, ratio.down) == (up, down) and ratio.rate_error == 0


def test_choose_ratio_bounds_rate_error_and_filter_over_the_grid():
    for sfreq_out in _card_rates():
        for sfreq_in in GRID_RATES:
            ratio = choose_ratio(sfreq_in, sfreq_out)
            assert gcd(ratio.up, ratio.down) == 1
            assert ratio.rate_error == pytest.approx(sfreq_in * ratio.up / ratio.down / sfreq_out - 1, abs=1e-12)
            assert abs(ratio.rate_error) <= MAX_RATE_ERROR, (sfreq_in, sfreq_out, ratio)
            assert ratio.n_taps <= 20 * MAX_FACTOR + 1


def test_choose_ratio_prefers_the_shortest_filter_within_tolerance():
    # 300.3 -> 200 Hz is exactly 2000/3003; 333/500 is within 1 ppm with a 6x shorter filter
    ratio = choose_ratio(300.3, 200.0)
    assert (ratio.up, ratio.down) == (333, 500)  # exactly 1 ppm (999999 / 1000000)
    assert abs(ratio.rate_error) == pytest.approx(RATE_TOLERANCE, rel=1e-6)
    exact = choose_ratio(300.3, 200.0, tolerance=0.0)
    assert (exact.up, exact.down) == (2000, 3003) and exact.rate_error == pytest.approx(0, abs=1e-15)


@pytest.fixture(scope="module")
def eegmmidb_run1():
    """S001R01 (eyes open, 61 s at 160 Hz), 16 channels, µV."""
    raw = mne.io.read_raw_edf(require_data("eegmmidb", "S001R01.edf"), verbose=False)
    return raw.get_data()[:16] * 1e6


@pytest.mark.parametrize("sfreq_in", [173.61, 300.3074951171875, 600.614990234375])
@pytest.mark.parametrize("sfreq_out", [200.0, 256.0])
def test_odd_ratios_equal_mne_polyphase_on_real_eeg(eegmmidb_run1, sfreq_in, sfreq_out):
    # The filter for a large ratio (e.g. 1205/1046) is mne's: a length that is a multiple of `down`
    # makes mne derive the same ratio from the lengths.
    ratio = choose_ratio(sfreq_in, sfreq_out)
    n = ratio.down * max(1, 2000 // ratio.down)
    X = eegmmidb_run1[None, :, :n]
    ours = PolyphaseResampler(ratio.up, ratio.down, n)(X.astype(np.float32))
    expected = mne.filter.resample(X, up=ratio.up, down=ratio.down, method="polyphase", axis=-1, verbose=False)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("sfreq_in", [173.61, 300.3074951171875, 600.614990234375, 1000.0, 128.0])
@pytest.mark.parametrize("sfreq_out", [200.0, 256.0])
def test_resampling_matches_mne_at_the_exact_rate(eegmmidb_run1, sfreq_in, sfreq_out):
    # Real EEG (160 Hz samples read as if recorded at sfreq_in). mne derives its ratio from the
    # lengths: pick a length whose exact output length is (almost) whole, so mne's ratio is the
    # true one to < 1e-8. Ours differs from it by `rate_error`: the output drifts by at most
    # |rate_error| * n_out samples, which moves a component at the output's Nyquist frequency by
    # pi * that in phase; nothing in the signal can differ by more.
    target = sfreq_out / sfreq_in
    lengths = np.arange(6000, eegmmidb_run1.shape[1] + 1)
    n = lengths[np.argmin(np.abs(lengths * target - np.rint(lengths * target)))]
    X = eegmmidb_run1[None, :, :n]
    ratio = choose_ratio(sfreq_in, sfreq_out)
    ours = PolyphaseResampler(ratio.up, ratio.down, n)(X.astype(np.float32))
    expected = mne.filter.resample(X, up=sfreq_out, down=sfreq_in, method="polyphase", axis=-1, verbose=False)
    m = min(ours.shape[-1], expected.shape[-1])
    assert abs(ours.shape[-1] - expected.shape[-1]) <= 1  # ceil vs round of the output length
    bound = np.pi * abs(ratio.rate_error) * m + 1e-5
    assert np.abs(ours[..., :m] - expected[..., :m]).max() <= bound * np.abs(expected).max()


@pytest.mark.parametrize("path, kind", [("sample_audvis_trunc_raw_sss.fif", "raw"), ("test-ave.fif.gz", "evoked")])
def test_megin_rates_resample_like_mne(path, kind):
    # The real 300.307 Hz / 600.615 Hz recordings: to 256 Hz, their lengths make mne's ratio ours.
    file = require_data("eeg_meg", path)
    inst = (mne.io.read_raw_fif(file, verbose=False) if kind == "raw"
            else mne.read_evokeds(file, verbose=False)[0]).pick("eeg")
    data, sfreq = inst.get_data() * 1e6, inst.info["sfreq"]
    ratio = choose_ratio(sfreq, 256.0)
    n = data.shape[1] // ratio.down * ratio.down
    assert n >= 0.5 * data.shape[1]
    X = data[None, :, :n]
    ours = PolyphaseResampler(ratio.up, ratio.down, n)(X.astype(np.float32))
    expected = mne.filter.resample(X, up=ratio.up, down=ratio.down, method="polyphase", axis=-1, verbose=False)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def _window_lengths(card):
    """Seconds: the card's minimum, a typical 4 s, and its maximum (at most 60 s)."""
    w = card.window
    shortest = w.min_samples / card.sfreq
    longest = 60.0 if w.max_samples is None else min(60.0, w.max_samples / card.sfreq)
    return sorted({shortest, min(max(4.0, shortest), longest), longest})


def _check_rates_and_lengths(model, rng, rates, lengths):
    card = get_model_card(model)
    names = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz",
             "P4", "P8", "O1", "O2"]
    w = card.window
    for sfreq in rates:
        for seconds in lengths(card):
            n = int(np.ceil(seconds * card.sfreq * sfreq / card.sfreq - 1e-9))
            X = rng.standard_normal((1, len(names), n)).astype(np.float32) * 20
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ChannelWarning)
                # filters=None: the card's filters are tested in test_filtering.py, not per rate
                ad = InputAdapter(card, sfreq, names, "uV", filters=None).fit(X)
            Xt = ad.transform(X)
            assert w.min_samples <= ad.n_times_out_ == Xt.shape[-1], (sfreq, seconds)
            assert w.max_samples is None or ad.n_times_out_ <= w.max_samples
            assert ad.n_times_out_ % w.multiple == 0 and np.all(np.isfinite(Xt))
            if sfreq != card.sfreq:
                assert abs(ad.ratio_.rate_error) <= MAX_RATE_ERROR
                assert any("rate error" in s and "taps" in s for s in ad.steps_)


@pytest.mark.parametrize("up, down", [(32, 125), (256, 1000), (200, 173)])
def test_resampling_in_blocks_equals_one_product(monkeypatch, up, down):
    """Long windows are resampled in blocks of rows and steps (bounded memory), to the same values."""
    import eegfm_sklearn.preprocessing.resampling as resampling

    X = np.random.default_rng(0).standard_normal((3, 5, 6000)).astype(np.float32)
    resampler = resampling.PolyphaseResampler(up, down, X.shape[-1])
    whole = resampler(X)
    monkeypatch.setattr(resampling, "BLOCK_BYTES", 4096)  # a few steps of one row per product
    calls = []
    block = resampler._grouped_block
    monkeypatch.setattr(resampler, "_grouped_block", lambda *a: calls.append(a[2]) or block(*a))
    padded = []  # rows padded at once: a padded copy of the whole input was the adapter's largest
    pad = resampler._pad
    monkeypatch.setattr(resampler, "_pad", lambda x: padded.append(len(x)) or pad(x))
    np.testing.assert_allclose(resampler(X), whole, atol=1e-5)
    assert len(calls) > 1 and max(calls) < resampler.n_steps
    assert sum(padded) == 15 and max(padded) == 1  # BLOCK_BYTES holds one padded row
@pytest.mark.slow
@pytest.mark.parametrize("model", list_models())
def test_every_rate_works_at_every_window_length(model, rng):
    _check_rates_and_lengths(model, rng, NAMED_RATES + (137.3, 999.7, 2048.0), _window_lengths)


@pytest.mark.parametrize("model", REPRESENTATIVE)
def test_odd_rates_work_at_the_shortest_window(model, rng):
    # The fast tier's share of the loop above: rates below, near and far above the cards' own.
    _check_rates_and_lengths(model, rng, (137.3, 300.3074951171875, 999.7), lambda c: _window_lengths(c)[:1])


@pytest.mark.parametrize("up, down", [(1, 2), (2, 5), (4, 5)])
def test_merged_steps_equal_one_step_per_product(eegmat_small, monkeypatch, up, down):
    """Thin ratios compute several steps per product (faster); the values are those of one step per product."""
    import eegfm_sklearn.preprocessing.resampling as resampling

    X = eegmat_small.X[:4].astype(np.float32)
    merged = resampling.PolyphaseResampler(up, down, X.shape[-1])
    assert merged.merge > 1
    with monkeypatch.context() as m:
        m.setattr(resampling, "_merge_factor", lambda *a: 1)
        single = resampling.PolyphaseResampler(up, down, X.shape[-1])
    assert single.merge == 1
    expected = single(X)
    np.testing.assert_allclose(merged(X), expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    monkeypatch.setattr(resampling, "BLOCK_BYTES", 4096)  # in blocks of rows and merged steps too
    np.testing.assert_allclose(merged(X), expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    reference = mne.filter.resample(X.astype(np.float64), up=up, down=down, method="polyphase", axis=-1,
                                    verbose=False)
    np.testing.assert_allclose(merged(X), reference, rtol=0, atol=1e-5 * np.abs(reference).max())
