"""ZUNA: architecture only, 32-sample tokens fixed at build, positions via chs_info."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.weights import WeightsError, resolve_weights

from conftest import STANDARD_19, card_module


def test_positions_reach_braindecode_as_mnes_chs_info():
    """The rotary position tables equal those braindecode builds from mne's info['chs']."""
    from braindecode.models import ZUNA

    module = card_module("zuna", 256).backbone
    info = mne.create_info(list(STANDARD_19), 256.0, "eeg")
    info.set_montage("standard_1005")
    ref = ZUNA(chs_info=info["chs"], n_times=256, n_outputs=2, **get_model_card("zuna").tiny_kwargs)
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


def test_no_weights_are_published():
    card = get_model_card("zuna")
    assert card.status == "architecture only" and "Zyphra/ZUNA" in card.no_weights_reason
    with pytest.raises(WeightsError, match="No pretrained checkpoint of 'zuna' is published"):
        resolve_weights("zuna-base", card)


def test_contract():
    card = get_model_card("zuna")
    assert card.sfreq == 256.0 and card.window.multiple == 32 and card.uses_positions
    assert card.build_kwargs["fine_time_pts"] == 32
