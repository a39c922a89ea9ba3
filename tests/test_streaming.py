"""Sliding-window transform of a continuous recording, read chunk by chunk."""

import mne
import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationTransformer
from eegfm_sklearn.streaming import iter_raw_windows, window_starts

from conftest import require_data, tiny


@pytest.fixture(scope="module")
def raw():
    raw = mne.io.read_raw_edf(require_data("eegmat", "Subject01_2.edf"), preload=False, verbose=False)
    return raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "-" not in n])


def test_window_starts_and_chunks_match_direct_slicing(raw):
    assert list(window_starts(10, 4, 3)) == [0, 3, 6] and len(window_starts(3, 4, 1)) == 0
    data = raw.get_data()
    chunks = list(iter_raw_windows(raw, np.arange(19), 1000, 700, 5))
    windows = np.concatenate(chunks)
    starts = window_starts(raw.n_times, 1000, 700)
    assert max(len(c) for c in chunks) == 5 and len(windows) == len(starts)
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
    if model == "bendr":  # dataset limits learned over every window of the recording, chunk by chunk
        whole = FoundationTransformer(**tiny(model, random_state=0, filters=None)).fit(epochs).adapter_.stats_
        assert tr.adapter_.stats_ == pytest.approx(whole, rel=1e-9)


def test_raw_needs_window_seconds_and_same_layout(raw):
    with pytest.raises(ValueError, match="needs window_seconds"):
        FoundationTransformer(**tiny("biot")).fit(raw)
    with pytest.raises(ValueError, match="needs cutting into windows.*make_fixed_length_epochs"):
        FoundationClassifier(**tiny("biot")).fit(raw, np.arange(len(raw)) % 2)
    tr = FoundationTransformer(**tiny("biot", window_seconds=4)).fit(raw)
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        tr.transform(raw.copy().pick(raw.ch_names[:10]))

