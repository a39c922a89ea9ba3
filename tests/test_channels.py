import pytest

from eegfm_sklearn.preprocessing.channels import (
    BipolarChannels,
    ChannelVocabulary,
    find_channel,
    index_user_channels,
    normalize_name,
)


@pytest.mark.parametrize(
    "raw, expected",
    [("Fp1", "FP1"), ("fp1", "FP1"), ("EEG Fp1", "FP1"), ("Fp1-REF", "FP1"), ("EEG FP1-LE", "FP1"),
     (" Cz ", "CZ"), ("EEG A2-A1", "A2-A1"), ("FP1-F7", "FP1-F7"), ("ECG ECG", "ECG")],
)
def test_normalize_name(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.parametrize("old, new", [("T3", "T7"), ("T4", "T8"), ("T5", "P7"), ("T6", "P8")])
def test_old_and_new_1020_names_find_each_other(old, new):
    assert find_channel(new, index_user_channels(["Cz", old])) == 1
    assert find_channel(old, index_user_channels([new.lower(), "Cz"])) == 0


def test_case_insensitive_edf_style_matching():
    index = index_user_channels(["EEG Fp1", "Fp2-REF", "c3"])
    assert [find_channel(n, index) for n in ("FP1", "FP2", "C3", "C4")] == [0, 1, 2, None]


def test_duplicate_channels_after_normalisation_are_refused():
    with pytest.raises(ValueError, match="both read as 'FP1'"):
        index_user_channels(["Fp1", "EEG FP1"])


def test_vocabulary_keeps_user_order_and_exact_names_win():
    vocab = ChannelVocabulary(("FP1", "T7", "T3", "CZ"))
    assert vocab.slots(["Cz", "T3", "ECG"]) == ("CZ", "T3")
    assert vocab.slots(["T7", "T3"]) == ("T7", "T3")


def test_bipolar_slots_and_weights():
    scheme = BipolarChannels((("FP1", "F7"), ("C3", "A2")))
    assert scheme.slots() == ("FP1-F7", "C3-A2")
    assert scheme.electrodes("C3-A2") == ("C3", "A2")
    assert list(scheme.combine("C3-A2")) == [1.0, -1.0]
