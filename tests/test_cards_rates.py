"""Recordings at any rate, for the steegformer, mvpformer, medformer and pbt cards.

(Issue 10 §5 for these cards; other caps are tested for every card in test_cards.py.
A suite over every card would parametrize ``MODELS``.)
"""

import mne
import numpy as np
import pytest

from eegfm_sklearn import FoundationTransformer, get_model_card

from conftest import tiny

MODELS_HERE = ("steegformer", "mvpformer", "medformer", "pbt")
RATES = (128.0, 160.0, 173.61, 256.0, 300.3, 512.0, 1000.0)


@pytest.mark.parametrize("model", MODELS_HERE)
def test_recordings_at_any_rate_give_one_embedding_per_window(model, eegmat_small):
    card = get_model_card(model)
    X = eegmat_small.X[:3].astype(float)  # real EEG, 4 s windows at 500 Hz, µV
    for rate in RATES:
        Xr = mne.filter.resample(X, up=rate, down=eegmat_small.sfreq, verbose="error")
        est = FoundationTransformer(**tiny(model, sfreq=rate, ch_names=eegmat_small.ch_names,
                                           random_state=0)).fit(Xr)
        out = est.transform(Xr)
        assert out.shape == (3, est.embedding_size_) and np.isfinite(out).all(), rate
        # About 4 s at the card's rate reach the backbone (cropped to its multiple at most).
        expected = 4.0 * card.sfreq
        assert expected - card.window.multiple - 1 <= est.adapter_.n_times_out_ <= expected, rate
