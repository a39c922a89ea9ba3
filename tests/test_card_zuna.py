"""ZUNA: the authors' Hub release, their input recipe and position bins, 32-sample tokens, positions via chs_info."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.weights import load_into_module, resolve_weights

from conftest import STANDARD_19, card_module


def test_positions_reach_braindecode_as_mnes_chs_info():
    """The rotary position tables equal those braindecode builds from mne's info['chs']."""
    from braindecode.models import ZUNA

    module = card_module("zuna", 256).backbone
    info = mne.create_info(list(STANDARD_19), 256.0, "eeg")
    info.set_montage("standard_1005")
    ref = ZUNA(chs_info=info["chs"], n_times=256, n_outputs=2, pos_bins=100, **get_model_card("zuna").tiny_kwargs)
    assert torch.equal(module.encoder.rotary_cosine, ref.encoder.rotary_cosine)
    ref.load_state_dict(module.state_dict())
    x = torch.randn(2, 19, 256)
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(x), ref.eval()(x))
        features = module(x, return_features=True)["features"]
    assert features.shape == (2, 19, 32)  # one latent per channel, averaged over its 8 tokens


def test_windows_are_cut_to_whole_tokens_and_bounded(eegmat_small):
    params = dict(model="zuna", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                  model_kwargs=dict(get_model_card("zuna").tiny_kwargs))
    X = eegmat_small.X[:2, :, :1950]  # 3.9 s at 500 Hz -> 998.4 samples at 256 Hz
    tr = FoundationTransformer(**params).fit(X)
    assert tr.adapter_.n_times_out_ == 992 and tr.backbone_.n_times == 992
    assert tr.transform(X).shape == (2, 19 * 32)
    long = np.zeros((1, 19, 500 * 40))  # 40 s: 320 tokens per channel, beyond the 256-row rotary table
    with pytest.raises(ValueError, match="too long for zuna.*maximum of 8192"):
        FoundationTransformer(**params).fit(long)


def _authors_file(module, path, decoder=True):
    """braindecode's encoder saved as Zyphra/ZUNA1.1 holds it: ``model.`` prefix, RMSNorm weights
    under their wrapper's ``.norm``, the diffusion decoder beside it."""
    from safetensors.torch import save_file

    norms = {name for name, sub in module.named_modules() if type(sub).__name__.endswith("RMSNorm")}
    state = {}
    for key, value in module.state_dict().items():
        if not key.startswith("encoder."):
            continue
        owner = key.rsplit(".", 1)[0]
        state["model." + (f"{owner}.norm.weight" if owner in norms else key)] = value.contiguous()
    if decoder:
        state.update({"model.decoder.layers.0.attention.wq.weight": torch.randn(8, 8),
                      "model.decoder.norm.norm.weight": torch.ones(8)})
    save_file(state, str(path))
    return state


def test_authors_release_layout_loads_the_encoder_and_lists_the_decoder(tmp_path):
    card = get_model_card("zuna")
    assert [c.repo_id for c in card.checkpoints] == ["Zyphra/ZUNA1.1"]
    torch.manual_seed(0)
    source = card_module("zuna", 256).backbone.eval()
    path = tmp_path / "model-00001-of-00001.safetensors"
    state = _authors_file(source, path)
    assert any(k.endswith("attention_norm.norm.weight") for k in state)
    resolved = resolve_weights(path, card)
    assert resolved.fmt == "zuna-hf" and resolved.checkpoint.name == "zuna-1.1"
    torch.manual_seed(1)
    module = card_module("zuna", 256).backbone.eval()
    report = load_into_module(module, resolved)
    reason = "(diffusion decoder of the autoencoder, not part of the encoder)"
    assert set(report.dropped) == {f"model.decoder.layers.0.attention.wq.weight {reason}",
                                   f"model.decoder.norm.norm.weight {reason}"}
    x = torch.randn(2, 19, 256)
    with torch.no_grad():
        torch.testing.assert_close(module(x, return_features=True)["features"],
                                   source(x, return_features=True)["features"], rtol=0, atol=0)


def test_authors_input_recipe():
    # Per segment: average reference, z-score with std + 1 µV (1e-6 V), / data_norm 10, clamp +-1.
    rng = np.random.default_rng(0)
    X = rng.normal(0, 20, size=(2, 5, 1280)) + rng.normal(0, 50, size=(2, 1, 1280))  # a shared offset
    X[0, 2, 100] = 2000.0  # an artefact beyond 10 sd: clamped
    ref = X - X.mean(axis=1, keepdims=True)
    z = (ref - ref.mean(-1, keepdims=True)) / (ref.std(-1, keepdims=True) + 1.0)
    expected = np.clip(z / 10.0, -1.0, 1.0)
    got = get_model_card("zuna").scaling.apply(X, {})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.max() == pytest.approx(1.0)


def test_position_bins_are_the_authors():
    from braindecode.models import ZUNA

    card = get_model_card("zuna")
    assert card.build_kwargs["pos_bins"] == 100 and card.build_kwargs["pos_half_range"] == 0.12
    module = card_module("zuna", 256).backbone
    info = mne.create_info(list(STANDARD_19), 256.0, "eeg")
    info.set_montage("standard_1005")
    default = ZUNA(chs_info=info["chs"], n_times=256, n_outputs=2, **card.tiny_kwargs)  # 50 bins
    assert not torch.equal(module.encoder.rotary_cosine, default.encoder.rotary_cosine)


def test_contract():
    card = get_model_card("zuna")
    assert card.sfreq == 256.0 and card.window.multiple == 32 and card.uses_positions
    assert card.build_kwargs["fine_time_pts"] == 32
