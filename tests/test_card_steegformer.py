"""ST-EEGFormer's card: its channel vocabulary (offline), scaling and full-size checkpoints."""

import warnings

import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.cards.steegformer import VARIANTS
from eegfm_sklearn.cards.steegformer.vocabulary import STEEGFORMER_CHANNELS, vocabulary_rows
from eegfm_sklearn.preprocessing.scaling import ClipThenZScore, ZScore
from eegfm_sklearn.weights import load_into_module, resolve_weights, save_weights_dir

from conftest import STANDARD_19, tiny

# Rows the authors' HBN model (eeg_foundation_2025, HBN_MODEL_CHANIDX) gives the
# EGI HydroCel electrodes that sit on these 10-20 sites (E22 = Fp1, E129 = Cz...):
# an independent record of the vocabulary's order.
AUTHORS_HBN_ROWS = {"Fp1": 6, "Fp2": 60, "Fz": 25, "F3": 71, "F4": 11, "F7": 133, "F8": 118, "C3": 130,
                    "Cz": 110, "C4": 2, "T7": 65, "T8": 68, "P7": 41, "P3": 74, "Pz": 1, "P4": 116,
                    "P8": 21, "O1": 95, "Oz": 5, "O2": 103}


def test_vocabulary_order_agrees_with_the_authors_table():
    assert len(STEEGFORMER_CHANNELS) == 142
    assert len({n.upper() for n in STEEGFORMER_CHANNELS}) == 142
    assert vocabulary_rows(list(AUTHORS_HBN_ROWS)) == list(AUTHORS_HBN_ROWS.values())
    assert vocabulary_rows(["cz", "FP1"]) == [110, 6]  # case does not matter, as in braindecode
    with pytest.raises(ValueError, match=r"\['E17'\] are not in ST-EEGFormer's channel vocabulary"):
        vocabulary_rows(["Cz", "E17"])


def test_every_row_fits_each_checkpoint():
    card = get_model_card("steegformer")
    for ckpt in card.checkpoints:
        assert len(STEEGFORMER_CHANNELS) <= card.for_checkpoint(ckpt).build_kwargs["n_chans_pos"]


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1, an empty cache, and every download function raising."""
    import huggingface_hub
    from braindecode.models import steegformer

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args} {kwargs}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr("huggingface_hub.file_download.hf_hub_download", refuse)
    monkeypatch.setattr(steegformer, "_channel_order", refuse)  # braindecode's own fetch


def test_channels_take_their_vocabulary_rows_offline_without_download(no_network, eegmat_small):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = FoundationTransformer(**tiny("steegformer", sfreq=eegmat_small.sfreq,
                                           ch_names=eegmat_small.ch_names, random_state=0)).fit(eegmat_small.X)
    slots = est.channel_report_.slots
    assert len(slots) == 19
    rows = est.backbone_.channel_indices.tolist()
    assert rows == vocabulary_rows(slots) and rows != list(range(19))  # by name, not channel i -> row i
    assert dict(zip(slots, rows))["Cz"] == 110
    assert not [w for w in caught if "identity" in str(w.message)], "braindecode fell back to identity"
    assert est.transform(eegmat_small.X[:3]).shape == (3, 32)


def test_clip_then_zscore_clips_microvolts_before_standardising(rng):
    X = rng.normal(0, 20, size=(2, 3, 256))
    X[0, 1, 10] = 5000.0  # an artefact far beyond ±500 µV
    out = ClipThenZScore(limit_uv=500.0).apply(X, {})
    np.testing.assert_allclose(out, ZScore().apply(np.clip(X, -500, 500), {}), rtol=1e-5, atol=1e-5)
    assert out[0, 1, 10] < ZScore().apply(X, {})[0, 1, 10]  # the spike weighs less than unclipped
    assert get_model_card("steegformer").scaling == ClipThenZScore(limit_uv=500.0)


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_full_size_checkpoint_loads_with_every_backbone_tensor(variant, tmp_path):
    card = get_model_card("steegformer")
    ckpt = card.get_checkpoint(f"steegformer-{variant.lower()}")
    eff = card.for_checkpoint(ckpt)
    slots = eff.channels.slots(STANDARD_19)
    torch.manual_seed(0)
    n_times = 16  # one patch: the tensors do not depend on the length, and the forward stays cheap
    ref = eff.build_module(len(slots), n_times, 2, slots=slots).eval()
    assert ref.channel_pos.embedding.weight.shape == (VARIANTS[variant]["n_chans_pos"],
                                                      VARIANTS[variant]["embed_dim"])
    save_weights_dir(ref, tmp_path / "release", {})
    resolved = resolve_weights(tmp_path / "release", card)
    torch.manual_seed(1)
    module = eff.build_module(len(slots), n_times, 2, slots=slots).eval()
    report = load_into_module(module, resolved)
    backbone = [k for k in module.state_dict() if not k.startswith("final_layer.")]
    assert set(backbone) <= set(report.loaded)
    x = torch.randn(2, len(slots), n_times)
    with torch.no_grad():
        loaded = eff.extract_features(module, x)
        torch.testing.assert_close(loaded, eff.extract_features(ref, x))
    assert loaded.shape == (2, eff.embedding_size)
