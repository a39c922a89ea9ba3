"""REVE: built with no network (position bank from local files or mne's template), positions as default_pos."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationTransformer, get_model_card

from conftest import STANDARD_19, card_module

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Entries of the published bank (brain-bzh/reve-positions) as quoted, rounded, by third-party code.
PUBLISHED = {"TP9": (-0.0856, -0.0465, -0.0457), "AF7": (-0.0548, 0.0686, -0.0106),
             "AF8": (0.0557, 0.0697, -0.0108), "TP10": (0.0862, -0.0470, -0.0459)}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network, an empty Hugging Face cache, an empty braindecode bank folder; downloads raise."""
    import huggingface_hub
    import pooch

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args} {kwargs}")

    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, refuse)
    monkeypatch.setattr(huggingface_hub.file_download, "hf_hub_download", refuse)
    monkeypatch.setattr(pooch, "retrieve", refuse)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "bank").mkdir()
    monkeypatch.setenv("REVE_POSITIONS_PATH", str(tmp_path / "bank"))
    return tmp_path


def test_builds_without_network_from_mnes_template(offline):
    module = card_module("reve", 800).backbone
    bank = module._position_bank
    assert bank.source == "mne's template 10-05 montage"
    for name, published in PUBLISHED.items():
        np.testing.assert_allclose(module.get_positions([name])[0].numpy(), published, atol=1e-4)
    np.testing.assert_allclose(module.get_positions(["Cz"])[0].numpy(), (0.0, -0.01, 0.1), atol=5e-3)


def test_positions_reach_reve_in_the_banks_frame(offline):
    """Template positions (head frame in the adapter) land on the bank's coordinates, not 4 cm off."""
    names = ("TP9", "AF7", "AF8", "TP10", "Cz", "O1")
    module = card_module("reve", 800, names=names).backbone
    for name, row in zip(names, module.default_pos.numpy()):
        np.testing.assert_allclose(row, module.get_positions([name])[0].numpy(), atol=1e-6)
        if name in PUBLISHED:
            np.testing.assert_allclose(row, PUBLISHED[name], atol=1e-4)
    info = mne.create_info(list(names), 200.0, "eeg")
    info.set_montage("standard_1005")
    head = np.array([ch["loc"][:3] for ch in info["chs"]])
    assert np.abs(head - module.default_pos.numpy()).max() > 0.02  # the two frames do differ


def test_bank_read_from_braindecodes_prefetched_file(offline):
    (offline / "bank" / "reve_positions.json").write_text(json.dumps({"Cz": [0.1, 0.2, 0.3]}))
    module = card_module("reve", 800).backbone
    assert module._position_bank.source.endswith("reve_positions.json")
    np.testing.assert_allclose(module.get_positions(["Cz"]).numpy(), [[0.1, 0.2, 0.3]])


def test_bank_read_from_the_hugging_face_cache(offline):
    repo = offline / "hub" / "models--brain-bzh--reve-positions"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (snap / "positions.json").write_text(json.dumps({"Oz": [0.0, -0.1, 0.01]}))
    module = card_module("reve", 800).backbone
    assert module._position_bank.source.endswith("positions.json")
    np.testing.assert_allclose(module.get_positions(["Oz"]).numpy(), [[0.0, -0.1, 0.01]])


def test_an_unreadable_bank_file_is_named(offline):
    (offline / "bank" / "reve_positions.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"reve_positions\.json is unreadable.*brain-bzh/reve-positions"):
        card_module("reve", 800)


def test_forward_equals_braindecodes_reve_given_the_same_positions(offline):
    """braindecode's own class, built offline the way it documents (a prefetched bank file)."""
    from braindecode.models import REVE

    from eegfm_sklearn.cards.reve.bank import template_table

    (offline / "bank" / "reve_positions.json").write_text(json.dumps(template_table()))
    module = card_module("reve", 800, output="logits").eval()
    ref = REVE(n_chans=19, n_times=800, n_outputs=2, sfreq=200.0, **get_model_card("reve").tiny_kwargs)
    positions = ref.get_positions(list(STANDARD_19))  # braindecode's own lookup in the (prefetched) bank
    assert positions.shape == (19, 3)
    torch.testing.assert_close(module.backbone.default_pos, positions)
    ref.load_state_dict(module.backbone.state_dict())
    x = torch.randn(2, 19, 800)
    with torch.no_grad():
        torch.testing.assert_close(module(x), ref.eval()(x, pos=positions[None].expand(2, -1, -1)))


def test_fits_eegmat_offline_and_names_a_channel_without_position(offline, eegmat_small):
    params = dict(model="reve", sfreq=eegmat_small.sfreq, model_kwargs=dict(get_model_card("reve").tiny_kwargs))
    E = FoundationTransformer(ch_names=eegmat_small.ch_names, **params).fit_transform(eegmat_small.X[:3])
    assert E.shape == (3, 19 * 4 * 32) and np.all(np.isfinite(E))  # 4 s at 200 Hz: 4 patches of 200, step 180
    names = list(eegmat_small.ch_names[:18]) + ["Mystery"]
    with pytest.raises(ValueError, match=r"reve places channels by their 3-D positions.*'Mystery'"):
        FoundationTransformer(ch_names=names, **params).fit(eegmat_small.X[:2])


def test_contract():
    card = get_model_card("reve")
    assert card.sfreq == 200.0 and card.uses_positions
    assert card.scaling.clip == 15.0
    assert {c.repo_id for c in card.checkpoints} == {"brain-bzh/reve-base", "brain-bzh/reve-large"}
    assert all("Gated" in c.notes for c in card.checkpoints)
    assert issubclass(card.module_class, __import__("braindecode").models.REVE)
