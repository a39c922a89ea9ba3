"""Sliding-window transform of a continuous recording, read chunk by chunk."""

import mne
import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationTransformer
from eegfm_sklearn.preprocessing.streaming import good_window_starts, iter_raw_windows, window_starts

from conftest import require_data, tiny


def _read(name):
    raw = mne.io.read_raw_edf(require_data("eegmat", name), preload=False, verbose=False)
    return raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "-" not in n])


@pytest.fixture(scope="module")
def raw():
    return _read("Subject01_2.edf")


def test_window_starts_and_chunks_match_direct_slicing(raw):
    assert list(window_starts(10, 4, 3)) == [0, 3, 6] and len(window_starts(3, 4, 1)) == 0
    data = raw.get_data()
    starts = window_starts(raw.n_times, 1000, 700)
    chunks = list(iter_raw_windows(raw, np.arange(19), starts, 1000, 5))
    windows = np.concatenate([c for _, c in chunks])
    assert max(len(c) for _, c in chunks) == 5 and len(windows) == len(starts)
    np.testing.assert_array_equal(np.concatenate([s for s, _ in chunks]), starts)
    np.testing.assert_array_equal(windows[7], data[:, starts[7]:starts[7] + 1000])


@pytest.mark.parametrize("model", ["bendr", "labram"])
def test_raw_transform_equals_fixed_length_epochs(raw, model):
    # filters=None: a Raw is filtered before windowing, epochs per window (test_filtering.py)
    tr = FoundationTransformer(**tiny(model, window_seconds=4, stride_seconds=2, random_state=0, batch_size=8,
                                      filters=None))
    emb = tr.fit(raw).transform(raw)
    epochs = mne.make_fixed_length_epochs(raw, duration=4, overlap=2, preload=True, verbose=False)
    assert emb.shape == (len(epochs), tr.embedding_size_)
    np.testing.assert_allclose(emb, tr.transform(epochs), rtol=1e-5, atol=1e-5)
    if model == "bendr":  # the SCALE row's span is the authors' fixed one: nothing learned, chunked or not
        whole = FoundationTransformer(**tiny(model, random_state=0, filters=None)).fit(epochs).adapter_.stats_
        assert tr.adapter_.stats_ == whole == {}


def test_raw_needs_window_seconds_and_same_layout(raw):
    with pytest.raises(ValueError, match="needs window_seconds"):
        FoundationTransformer(**tiny("biot")).fit(raw)
    with pytest.raises(ValueError, match="needs cutting into windows.*make_fixed_length_epochs"):
        FoundationClassifier(**tiny("biot")).fit(raw, np.arange(len(raw)) % 2)
    tr = FoundationTransformer(**tiny("biot", window_seconds=4)).fit(raw)
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        tr.transform(raw.copy().pick(raw.ch_names[:10]))



def _mne_starts(raw, duration, overlap):
    """Start samples (raw.times index) of mne's fixed-length epochs left after reject_by_annotation."""
    epochs = mne.make_fixed_length_epochs(raw, duration=duration, overlap=overlap, reject_by_annotation=True,
                                          preload=True, verbose=False)
    return epochs, epochs.events[:, 0] - raw.first_samp


def _annotated(raw):
    """A cropped copy (first_samp > 0) with bad, not-bad and lower-case bad annotations."""
    out = raw.copy().crop(tmin=5.3)
    t0 = out.first_time  # annotations count from meas_date; mne subtracts the first sample's time
    out.annotations.append(t0 + np.array([10.0, 30.0, 40.0, 50.2]), [2.0, 0.5, 1.0, 0.0],
                           ["BAD_muscle", "bad blink", "stim", "BAD_spike"])
    return out


@pytest.mark.parametrize("model", ["biot", "labram"])
def test_raw_windows_overlapping_bad_annotations_are_skipped_as_mne_does(raw, model):
    annotated = _annotated(raw)
    epochs, expected = _mne_starts(annotated, 4, 2)
    # filters=None: a Raw is filtered continuously and Epochs window by window (test_filtering.py)
    tr = FoundationTransformer(**tiny(model, window_seconds=4, stride_seconds=2, random_state=0, batch_size=4,
                                      filters=None))
    emb = tr.fit(annotated).transform(annotated)
    np.testing.assert_array_equal(tr.window_starts_, expected)
    np.testing.assert_allclose(tr.window_onsets_, expected / raw.info["sfreq"])
    everything = window_starts(annotated.n_times, 2000, 1000)
    assert tr.n_windows_rejected_ == len(everything) - len(expected) > 0
    np.testing.assert_allclose(emb, tr.transform(epochs), rtol=1e-5, atol=1e-5)
    # the "stim" annotation rejects nothing: windows over it are kept
    stim = 40.0
    assert any(s / 500 < stim < s / 500 + 4 for s in tr.window_starts_)
    kept = tr.set_params(reject_by_annotation=False).transform(annotated)
    assert len(kept) == len(everything) and tr.n_windows_rejected_ == 0
    np.testing.assert_array_equal(tr.window_starts_, everything)


def test_concatenated_recordings_never_give_a_window_across_the_boundary(raw):
    joined = mne.concatenate_raws([raw.copy(), _read("Subject02_2.edf")], verbose=False)
    boundary = raw.n_times
    _, expected = _mne_starts(joined, 4, 1)  # stride 3 s
    tr = FoundationTransformer(**tiny("biot", window_seconds=4, stride_seconds=3, random_state=0))
    emb = tr.fit(joined).transform(joined)
    np.testing.assert_array_equal(tr.window_starts_, expected)
    assert len(emb) == len(expected)
    assert not any(s < boundary < s + 2000 for s in tr.window_starts_)
    assert any(s < boundary < s + 2000 for s in window_starts(joined.n_times, 2000, 1500))  # there was one
    # "EDGE boundary" alone (BAD boundary removed) still cuts
    edge_only = joined.copy()
    edge_only.annotations.delete(np.flatnonzero(edge_only.annotations.description == "BAD boundary"))
    np.testing.assert_array_equal(good_window_starts(edge_only, 2000, 1500)[0], expected)


def test_nan_span_error_says_annotate_and_annotating_works(raw):
    broken = raw.copy().load_data()
    broken._data[3, 12_000:12_100] = np.nan  # 24.0-24.2 s
    tr = FoundationTransformer(**tiny("biot", window_seconds=4, random_state=0))
    with pytest.raises(ValueError, match=r"window starting at 24\.000 s .*contains NaN.*'BAD_'.*skipped"):
        tr.fit(broken)
    broken.annotations.append(broken.first_time + 24.0, 0.2, "BAD_nan")
    emb = tr.fit(broken).transform(broken)
    assert np.isfinite(emb).all() and 24 * 500 not in tr.window_starts_ and len(emb) == 15 - 1
    tr.set_params(reject_by_annotation=False)
    with pytest.raises(ValueError, match="contains NaN.*set reject_by_annotation=True"):
        tr.transform(broken)


def _range(param, got):
    # Declared in estimators/params.py; checked before anything else runs.
    return (rf"'{param}' parameter of FoundationTransformer must be None or a float in the range "
            rf"\(0\.0, inf\)\. Got {got}")


@pytest.mark.parametrize("params, message", [
    ({"window_seconds": 0}, _range("window_seconds", "0")),
    ({"window_seconds": -4}, _range("window_seconds", "-4")),
    ({"window_seconds": 4, "stride_seconds": 0}, _range("stride_seconds", "0")),
    ({"window_seconds": 4, "stride_seconds": -1.0}, _range("stride_seconds", r"-1\.0")),
    ({"window_seconds": float("nan")}, _range("window_seconds", "nan")),
    ({"window_seconds": 4, "stride_seconds": 0.0001}, "must each last at least one sample"),
    ({"window_seconds": 100}, r"holds no full 100 s window; shorten window_seconds"),
])
def test_bad_window_or_stride_is_a_clear_error(raw, params, message):
    with pytest.raises(ValueError, match=message):
        FoundationTransformer(**tiny("biot", **params)).fit(raw)


def test_all_windows_rejected_is_a_clear_error(raw):
    covered = raw.copy()
    covered.annotations.append(covered.first_time, 62.0, "BAD_everything")
    with pytest.raises(ValueError, match="All 15 windows of 4 s overlap bad or edge annotations.*"
                                         "reject_by_annotation=False"):
        FoundationTransformer(**tiny("biot", window_seconds=4)).fit(covered)


def test_reads_stay_bounded_around_long_bad_spans(raw, monkeypatch):
    gapped = raw.copy()
    gapped.annotations.append(gapped.first_time + 6.0, 50.0, "BAD_long")  # 6-56 s
    starts, rejected = good_window_starts(gapped, 1000, 500)
    assert rejected > 0 and np.diff(starts).max() > 50 * 500
    reads = []
    real = gapped.get_data

    def spy(*args, start=0, stop=None, **kwargs):
        reads.append(stop - start)
        return real(*args, start=start, stop=stop, **kwargs)

    monkeypatch.setattr(gapped, "get_data", spy)
    chunks = list(iter_raw_windows(gapped, np.arange(19), starts, 1000, 8))
    assert max(reads) <= 7 * 500 + 1000  # never the 50 s gap in one read
    np.testing.assert_array_equal(np.concatenate([s for s, _ in chunks]), starts)
