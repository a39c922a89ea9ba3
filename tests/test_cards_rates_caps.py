"""Recordings at any rate and from other caps, for the steegformer, mvpformer, medformer and pbt cards.

(Issue 10 §5 for these cards; a suite over every card would parametrize ``MODELS``.)
"""

import mne
import numpy as np
import pytest

from eegfm_sklearn import FoundationTransformer, get_model_card

from conftest import require_data, tiny

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


def _eegmmidb_epochs():
    raw = mne.io.read_raw_edf(require_data("eegmmidb", "S001R01.edf"), preload=True, verbose="error")
    mne.datasets.eegbci.standardize(raw)  # 'Fc5.' -> 'FC5'
    return mne.make_fixed_length_epochs(raw, duration=4.0, preload=True, verbose="error")[:3]


@pytest.mark.parametrize("model", MODELS_HERE)
def test_a_64_channel_cap_is_used_whole_with_a_per_slot_report(model):
    epochs = _eegmmidb_epochs()  # 64 channels of the 10-10 system, 160 Hz
    est = FoundationTransformer(**tiny(model, random_state=0)).fit(epochs)
    report = est.channel_report_
    # Every one of the 64 electrodes is a slot, matched as is (STEEGFormer: by its vocabulary name).
    assert [n.upper() for n in report.slots] == [n.upper() for n in epochs.ch_names]
    assert report.count("matched") == 64 and not report.unused
    assert est.transform(epochs).shape == (3, est.embedding_size_)


def test_steegformer_refuses_a_cap_without_names_clearly_others_take_it():
    raw = mne.io.read_raw_eeglab(require_data("eeglab", "test_raw.set"), preload=True, verbose="error")
    epochs = mne.make_fixed_length_epochs(raw, duration=4.0, preload=True, verbose="error")[:2]
    assert epochs.ch_names[0] == "EEG 000"  # 32 channels numbered, no montage
    with pytest.raises(ValueError, match=r"None of the channels .* maps onto this model's channels"):
        FoundationTransformer(**tiny("steegformer")).fit(epochs)
    for model in ("mvpformer", "medformer", "pbt"):  # position-free: any 32 channels, in order
        est = FoundationTransformer(**tiny(model, random_state=0)).fit(epochs)
        assert len(est.channel_report_.slots) == 32
