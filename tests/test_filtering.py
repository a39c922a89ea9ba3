"""The card's pretraining filters: continuous recordings as raw.filter does it, windows one by one."""

from dataclasses import replace

import mne
import numpy as np
import pytest
from scipy.signal import detrend

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.cards import FilterSpec
from eegfm_sklearn.preprocessing.adapter import InputAdapter
from eegfm_sklearn.preprocessing.filtering import plan_filters
from eegfm_sklearn.preprocessing.streaming import iter_raw_windows, window_starts

from conftest import require_data, tiny

LABRAM = get_model_card("labram")  # band-pass 0.1-75 Hz + 50 Hz notch


def _eeg_picks(raw):
    return mne.pick_types(raw.info, eeg=True, exclude="bads")


@pytest.fixture(scope="module")
def eegmat_raw():
    raw = mne.io.read_raw_edf(require_data("eegmat", "Subject01_2.edf"), preload=False, verbose=False)
    return raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "-" not in n])


def _mne_reference(raw, plan):
    """What mne gives on the whole recording: raw.filter then raw.notch_filter, defaults."""
    ref = raw.copy().load_data()
    if plan.l_freq is not None or plan.h_freq is not None:
        ref.filter(plan.l_freq, plan.h_freq, verbose=False)
    if plan.notch:
        ref.notch_filter(list(plan.notch), verbose=False)
    return ref.get_data(picks=_eeg_picks(ref))


def _windows(raw, picks, window, stride, chunk, read=None):
    """Every window of ``raw`` (read chunk by chunk), stacked."""
    starts = window_starts(raw.n_times, window, stride)
    return np.concatenate([c for _, c in iter_raw_windows(raw, picks, starts, window, chunk, read=read)])


@pytest.mark.parametrize("recording", [("eegmat", "Subject01_2.edf"), ("eegmmidb", "S001R01.edf")])
def test_streamed_raw_equals_raw_filter_on_the_whole_recording(recording):
    # 500 Hz and 160 Hz real EEG, read from disk chunk by chunk (not preloaded)
    raw = mne.io.read_raw_edf(require_data(*recording), preload=False, verbose=False)
    picks, sfreq = _eeg_picks(raw), raw.info["sfreq"]
    window = int(4 * sfreq)
    plan = plan_filters(LABRAM, sfreq, window)
    assert (plan.l_freq, plan.h_freq, plan.notch, plan.skipped) == (0.1, 75.0, (50.0,), ())
    expected = _mne_reference(raw, plan)
    # overlapping windows, 3 per chunk: every chunk re-reads its context from disk
    stride = window // 2
    streamed = _windows(raw, picks, window, stride, 3, read=plan.reader(raw, picks))
    starts = np.arange(0, raw.n_times - window + 1, stride)
    assert len(streamed) == len(starts)
    for i in (0, 1, len(starts) // 2, len(starts) - 1):  # both recording edges and the middle
        np.testing.assert_allclose(streamed[i], expected[:, starts[i]:starts[i] + window],
                                   rtol=0, atol=1e-6 * np.abs(expected).max())
    # the first window, read alone: context is clipped at the recording's start
    np.testing.assert_allclose(plan.reader(raw, picks)(0, 100), expected[:, :100], rtol=0,
                               atol=1e-6 * np.abs(expected).max())


def test_lowpass_above_nyquist_is_skipped_with_its_reason():
    # 128 Hz EEGLAB recording: LaBraM's 75 Hz low-pass lies above its 64 Hz Nyquist
    raw = mne.io.read_raw_eeglab(require_data("eeglab", "test_raw.set"), preload=False, verbose=False)
    picks = _eeg_picks(raw)
    plan = plan_filters(LABRAM, raw.info["sfreq"], 512)
    assert plan.h_freq is None and plan.l_freq == 0.1 and plan.notch == (50.0,)
    assert len(plan.skipped) == 1 and "low-pass 75 Hz skipped" in plan.skipped[0] and "64 Hz" in plan.skipped[0]
    assert "skipped" in plan.describe(True) and "skipped" in plan.describe(False)
    expected = _mne_reference(raw, plan)  # raw.filter(0.1, None) + notch: what mne can do here
    got = plan.reader(raw, picks)(5000, 9000)
    np.testing.assert_allclose(got, expected[:, 5000:9000], rtol=0, atol=1e-6 * np.abs(expected).max())


def test_notch_at_nyquist_is_skipped_not_an_mne_error():
    card = replace(LABRAM, filters=FilterSpec(0.5, 40.0, (50.0, 60.0)))
    plan = plan_filters(card, 100.0, 400)
    assert plan.notch == () and plan.h_freq == 40.0
    assert [s.split(":")[0] for s in plan.skipped] == ["notch 50 Hz skipped", "notch 60 Hz skipped"]
    x = np.random.default_rng(0).standard_normal((2, 3, 400))
    assert plan.filter_windows(x).shape == x.shape


def test_raw_estimator_filters_like_raw_filter_then_windows(eegmat_raw):
    # fitting on the Raw with the card's filters == fitting on mne's filtered copy with filters=None
    params = tiny("labram", window_seconds=4, random_state=0, batch_size=8)
    ours = FoundationTransformer(**params).fit(eegmat_raw)
    filtered = eegmat_raw.copy().load_data().filter(0.1, 75.0, verbose=False).notch_filter([50.0], verbose=False)
    theirs = FoundationTransformer(**params, filters=None).fit(filtered)
    np.testing.assert_allclose(ours.transform(eegmat_raw), theirs.transform(filtered), rtol=1e-4, atol=1e-5)
    text = ours.describe_preprocessing()
    assert "raw.filter(0.1, 75.0) then raw.notch_filter([50.0])" in text and "before windowing" in text
    assert "filters: none applied" in theirs.describe_preprocessing()
    assert ours.adapter_.continuous_ and not theirs.adapter_.filter_plan_.active


def _offset_and_drift(raw):
    """Real EEG plus a +300 µV offset, a 200 µV ramp and a 100 µV, 0.01 Hz wander (all channels)."""
    t = raw.times
    drift = (300.0 + 200.0 * t / t[-1] + 100.0 * np.sin(2 * np.pi * 0.01 * t)) * 1e-6
    return mne.io.RawArray(raw.get_data() + drift, raw.info, verbose=False)


@pytest.mark.parametrize("filters", ["card", None])
def test_dc_offset_and_drift_are_removed_before_the_backbone(eegmat_raw, filters):
    clean = eegmat_raw.copy().load_data()
    dirty = _offset_and_drift(clean)
    picks, window = np.arange(19), 2000

    def continuous(raw):
        ad = InputAdapter(LABRAM, raw.info["sfreq"], raw.ch_names, "V", filters=filters)
        ad.fit_chunks((c for _, c in iter_raw_windows(raw, picks, window_starts(raw.n_times, window, window),
                                                       window, 8)), window, prefiltered=True)
        read = ad.filter_plan_.reader(raw, picks)
        return ad.transform(_windows(raw, picks, window, window, 8, read=read), prefiltered=True)

    def windowed(raw):  # numpy windows, as from mne.Epochs
        X = _windows(raw, picks, window, window, 1000)
        return InputAdapter(LABRAM, raw.info["sfreq"], raw.ch_names, "V", filters=filters).fit(X).transform(X)

    for adapt in (continuous, windowed):
        reference, shifted = adapt(clean), adapt(dirty)
        error = np.linalg.norm(shifted - reference) / np.linalg.norm(reference)
        if filters == "card":  # the embedding input barely moves (the 0.01 Hz wander leaks a little)
            assert error < 0.1, adapt.__name__
        else:  # unfiltered, the offset dwarfs the EEG
            assert error > 10, adapt.__name__


def test_windowed_band_edges_are_mne_filters_window_by_window(eegmat_small):
    X, sfreq = eegmat_small.X[:4], eegmat_small.sfreq
    # low-pass: mne's own FIR (filter_data defaults), applied to each window with mne's padding
    lowpass = plan_filters(replace(LABRAM, filters=FilterSpec(None, 75.0)), sfreq, X.shape[-1])
    expected = mne.filter.filter_data(X, sfreq, None, 75.0, verbose=False)
    np.testing.assert_allclose(lowpass.filter_windows(X), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert "low-pass 75 Hz as mne's FIR (89 taps" in lowpass.describe(False)
    # a 0.5 Hz edge fits in 4 s windows: mne's zero-phase IIR high-pass after detrending
    highpass = plan_filters(replace(LABRAM, filters=FilterSpec(0.5, None)), sfreq, X.shape[-1])
    assert highpass.window_highpass
    expected = mne.filter.filter_data(detrend(X, axis=-1), sfreq, 0.5, None, method="iir", verbose=False)
    np.testing.assert_allclose(highpass.filter_windows(X), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    # a low-pass whose FIR would exceed half the window (4 Hz: 825 taps, 1 s windows): mne's IIR
    narrow = plan_filters(replace(LABRAM, filters=FilterSpec(None, 4.0)), sfreq, 500)
    expected = mne.filter.filter_data(X[..., :500], sfreq, None, 4.0, method="iir", verbose=False)
    np.testing.assert_allclose(narrow.filter_windows(X[..., :500]), expected, rtol=0,
                               atol=1e-5 * np.abs(expected).max())
    assert "IIR low-pass 4 Hz" in narrow.describe(False)
    # LaBraM's 0.1 Hz cannot act on 4 s: detrending stands in, and the description says so
    text = plan_filters(LABRAM, sfreq, X.shape[-1]).describe(continuous=False)
    assert "per window" in text and "linear detrend" in text and "no high-pass (0.1 Hz needs 20 s" in text
    assert "notch 50 Hz as a least-squares projection" in text


@pytest.mark.parametrize("hum_hz", [50.0, 50.2])
def test_windowed_notch_removes_line_noise_and_keeps_neighbours(eegmat_small, hum_hz):
    X = eegmat_small.X[:8]
    t = np.arange(X.shape[-1]) / eegmat_small.sfreq
    phases = np.arange(X.shape[1])[:, None]  # a different phase per channel

    def left_of(tone_hz):  # the adapter is linear: its output for tone alone, with and without filters
        tone = 20.0 * np.sin(2 * np.pi * tone_hz * t + phases)  # µV
        out = []
        for filters in ("card", None):
            ad = InputAdapter(LABRAM, eegmat_small.sfreq, eegmat_small.ch_names, "uV", filters=filters).fit(X)
            out.append(np.sqrt(np.mean((ad.transform(X + tone) - ad.transform(X)) ** 2)))
        return out[0] / out[1]

    assert left_of(hum_hz) < 0.05  # mains hum, also slightly off 50 Hz
    assert left_of(45.0) > 0.95  # EEG beside the stop band passes


def test_filters_none_leaves_data_untouched(eegmat_small, eegmat_raw):
    X = eegmat_small.X[:3]
    ad = InputAdapter(LABRAM, eegmat_small.sfreq, eegmat_small.ch_names, "uV", filters=None).fit(X)
    resampled = mne.filter.resample(X, up=ad.up_, down=ad.down_, method="polyphase", axis=-1, verbose=False)
    np.testing.assert_allclose(ad._before_scaling(X), resampled[..., : ad.n_times_out_], rtol=0,
                               atol=1e-4 * np.abs(resampled).max())
    assert not ad.filter_plan_.active
    picks = np.arange(19)
    np.testing.assert_array_equal(ad.filter_plan_.reader(eegmat_raw, picks)(100, 600),
                                  eegmat_raw.get_data(picks=picks, start=100, stop=600))
    # and the card's filters do change it
    card = InputAdapter(LABRAM, eegmat_small.sfreq, eegmat_small.ch_names, "uV").fit(X)
    assert not np.allclose(card._before_scaling(X), ad._before_scaling(X), atol=1e-2)


def test_card_without_filters_and_bad_values(eegmat_small, eegmat_raw):
    bendr = plan_filters(get_model_card("bendr"), 500.0, 2000)
    assert not bendr.active and bendr.describe(False) == "filters: none (the card states none)"
    bad = FoundationTransformer(**tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                       filters="labram"))
    with pytest.raises(ValueError, match="'filters' parameter of FoundationTransformer must be None or a str "
                                         "among \\{'card'\\}. Got 'labram'"):
        bad.fit(eegmat_small.X[:2])
    joined = eegmat_raw.copy().load_data()
    joined.annotations.append(10.0, 0.0, "EDGE boundary")
    with pytest.raises(ValueError, match="acquisition boundaries.*pass filters=None"):
        plan_filters(LABRAM, 500.0, 2000).reader(joined, np.arange(19))


def test_fitted_estimator_records_the_filters(eegmat_small, tmp_path):
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    est = FoundationTransformer(**params).fit(eegmat_small.X[:4])
    assert est.get_params()["filters"] == "card"
    text = est.describe_preprocessing()
    assert "filters: band-pass 0.1-75 Hz + notch 50 Hz per window" in text
    lines = text.splitlines()
    first = {key: next(i for i, s in enumerate(lines) if key in s) for key in ("filters:", "resample:")}
    assert first["filters:"] < first["resample:"]
    est.save_pretrained(tmp_path / "est")
    back = FoundationTransformer.from_pretrained(tmp_path / "est")
    assert back.describe_preprocessing() == text
    np.testing.assert_allclose(back.transform(eegmat_small.X[:4]), est.transform(eegmat_small.X[:4]), rtol=1e-5,
                               atol=1e-6)
