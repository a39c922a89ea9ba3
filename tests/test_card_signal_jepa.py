"""SignalJEPA family: channel table, positions, the pretraining checkpoint read by each variant."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.cards.signal_jepa import PRETRAIN_CHANNELS
from eegfm_sklearn.finetune import inject_adapters, make_peft_config, merge_adapters
from eegfm_sklearn.weights import WeightsError, load_into_module, resolve_weights

from conftest import STANDARD_19, card_module

FAMILY = ("signal_jepa", "signal_jepa_contextual", "signal_jepa_postlocal", "signal_jepa_prelocal")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY_SSL = {"transformer__num_encoder_layers": 2, "transformer__num_decoder_layers": 1, "transformer__nhead": 2}


def _template_chs(names):
    info = mne.create_info(list(names), 128.0, "eeg")
    info.set_montage("standard_1005")
    return info["chs"]


def _ssl_file(tmp_path, chs_info, *, with_table=True, repo="braindecode/signal-jepa"):
    """The pretraining encoder (decoder included) as braindecode publishes it, in a fake Hub cache."""
    from braindecode.models import SignalJEPA

    torch.manual_seed(0)
    ssl = SignalJEPA(chs_info=chs_info, sfreq=128.0, n_times=512,
                     channel_embedding="pretrain_aligned" if with_table else "scratch", **TINY_SSL)
    state = {k: v.contiguous() for k, v in ssl.state_dict().items()}
    if not with_table:
        del state["pos_encoder.pos_encoder_spat.weight"]
    snap = tmp_path / "cache" / f"models--{repo.replace('/', '--')}" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text(COMMIT)
    save_file(state, str(snap / "model.safetensors"))
    return state, tmp_path / "cache"


def test_pretraining_channels_are_braindecodes_table():
    from braindecode.models.signal_jepa import _PRETRAIN_CHS_INFO

    assert PRETRAIN_CHANNELS == tuple(ch["ch_name"] for ch in _PRETRAIN_CHS_INFO)
    assert len(PRETRAIN_CHANNELS) == 62


def test_channel_table_is_built_from_the_positions_mne_gives():
    """chs_info from the card's positions = mne's info['chs'] (same frame, metres)."""
    from braindecode.models import SignalJEPA_Contextual

    module = card_module("signal_jepa_contextual", 512).backbone
    ref = SignalJEPA_Contextual(chs_info=_template_chs(STANDARD_19), sfreq=128.0, n_times=512, n_outputs=2,
                                **TINY_SSL)
    torch.testing.assert_close(module.pos_encoder.pos_encoder_spat.weight, ref.pos_encoder.pos_encoder_spat.weight)


def test_a_channel_without_position_is_named(eegmat_small):
    names = list(eegmat_small.ch_names[:18]) + ["Mystery"]
    est = FoundationTransformer("signal_jepa", sfreq=eegmat_small.sfreq, ch_names=names,
                                model_kwargs=TINY_SSL)
    with pytest.raises(ValueError, match=r"signal_jepa places channels by their 3-D positions.*'Mystery'"):
        est.fit(eegmat_small.X[:2])


@pytest.mark.parametrize("model", ("signal_jepa", "signal_jepa_contextual"))
def test_release_with_channel_table_loads_offline_and_matches_braindecode(model, tmp_path, monkeypatch,
                                                                          eegmat_small):
    """EEGMAT's names ('EEG T3'...) select rows of the 62-row table by name, as braindecode does."""
    card = get_model_card(model)
    state, cache = _ssl_file(tmp_path, None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    est = FoundationTransformer(model, weights="signal-jepa", cache_dir=cache, sfreq=eegmat_small.sfreq,
                                ch_names=eegmat_small.ch_names, model_kwargs=TINY_SSL, random_state=0)
    E = est.fit_transform(eegmat_small.X[:4])
    assert est.channel_report_.count("matched") == 19
    slots = est.channel_report_.slots
    assert "T7" in slots and "P8" in slots  # the old names T3 / T6 take the table's spelling
    backbone = est.backbone_
    assert backbone.pos_encoder.pos_encoder_spat.weight.shape == (62, 30)
    rows = [PRETRAIN_CHANNELS.index(s) for s in slots]
    assert backbone.pos_encoder.default_ch_idxs.tolist() == rows
    report = est.weights_report_
    assert not any(k.startswith("transformer.decoder.") for k in backbone.state_dict())
    assert set(report.loaded) == {k for k in backbone.state_dict() if not k.startswith("final_layer.")}
    # The reference: braindecode's own class, same checkpoint, strict=False as its docs say.
    ref = card.module_class(chs_info=[{"ch_name": s, "loc": np.zeros(12)} for s in slots], sfreq=128.0,
                            n_times=est.adapter_.n_times_out_, n_outputs=2,
                            channel_embedding="pretrain_aligned", **TINY_SSL)
    result = ref.load_state_dict(state, strict=False)
    # braindecode's documented partial load: only its (task) head is left out, nothing is ignored
    assert result.unexpected_keys == [] and all(k.startswith("final_layer.") for k in result.missing_keys)
    x = torch.from_numpy(est.adapter_.transform(eegmat_small.X[:4]))
    with torch.no_grad():
        tokens = ref.eval()(x, return_features=True)["features"]
    pooled = tokens.mean(1) if card.default_pooling == "mean" else tokens.flatten(1)
    np.testing.assert_allclose(E, pooled.numpy(), rtol=1e-5, atol=1e-5)


def test_release_without_channel_table_keeps_the_position_table(tmp_path, monkeypatch):
    card = get_model_card("signal_jepa_contextual")
    state, cache = _ssl_file(tmp_path, _template_chs(STANDARD_19), with_table=False,
                             repo="braindecode/signal-jepa_without-chans")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_weights("signal-jepa-without-chans", card, cache_dir=cache)
    fresh = card_module("signal_jepa_contextual", 512).backbone
    table = fresh.pos_encoder.pos_encoder_spat.weight.detach().clone()
    report = load_into_module(fresh, resolved)
    assert "pos_encoder.pos_encoder_spat.weight" in report.initialised
    torch.testing.assert_close(fresh.pos_encoder.pos_encoder_spat.weight, table)
    assert torch.equal(fresh.feature_encoder.state_dict()["1.0.weight"], state["feature_encoder.1.0.weight"])
    assert len(report.loaded) == len(state) - sum(k.startswith("transformer.decoder.") for k in state)


@pytest.mark.parametrize("model", ("signal_jepa_postlocal", "signal_jepa_prelocal"))
def test_local_variants_take_the_feature_encoder_of_the_release(model, tmp_path, monkeypatch):
    card = get_model_card(model)
    state, cache = _ssl_file(tmp_path, None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_weights("signal-jepa", card, cache_dir=cache)
    assert set(resolved.state_dict) == {k for k in state if k.startswith("feature_encoder.")}
    module = card_module(model, 512).backbone
    report = load_into_module(module, resolved)
    for key, value in module.feature_encoder.state_dict().items():
        assert torch.equal(value, state[f"feature_encoder.{key}"]), key
    # The pre-local spatial filter is not in the release: initialised with the head, and said so.
    assert set(report.initialised) == {k for k in module.state_dict() if k.startswith(resolved.card.head_prefixes)}
    assert any(k.startswith("spatial_conv.") for k in report.initialised) == (model == "signal_jepa_prelocal")
    # A file missing one of the encoder's tensors is refused, naming it.
    dropped = "feature_encoder.3.0.weight"
    partial = tmp_path / "partial"
    partial.mkdir()
    save_file({k: v for k, v in state.items() if k != dropped}, str(partial / "model.safetensors"))
    with pytest.raises(WeightsError, match=f"missing from the checkpoint.*{dropped}"):
        load_into_module(card_module(model, 512).backbone, resolve_weights(partial, card))


def test_lora_adapters_act_at_inference():
    """torch's fused encoder-layer path would read linear1/linear2's base weights and skip adapters."""
    module = card_module("signal_jepa_contextual", 512, output="logits").eval()
    layers = list(module.backbone.transformer.encoder.layers)
    x = torch.randn(4, 19, 512)
    with torch.no_grad():
        before = module(x)
    assert not any(layer._forward_pre_hooks for layer in layers)  # no adapters: torch's fused path stays
    inject_adapters(module, make_peft_config(module.card, rank=2))
    for name, p in module.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    with torch.inference_mode():
        adapted = module.eval()(x)
    assert all(layer._forward_pre_hooks for layer in layers)
    assert not torch.allclose(adapted, before, atol=1e-4)
    merge_adapters(module)
    with torch.inference_mode():
        torch.testing.assert_close(module(x), adapted, rtol=1e-4, atol=1e-4)


def test_the_encoder_head_is_a_mean_over_tokens():
    module = card_module("signal_jepa", 512, output="logits").eval()
    x = torch.randn(2, 19, 512)
    head = module.backbone.final_layer
    with torch.no_grad():
        tokens = module.backbone(x, return_features=True)["features"]
        torch.testing.assert_close(module(x), head.linear(tokens.mean(1)))
    assert module(x).shape == (2, 2)


@pytest.mark.parametrize("model", FAMILY)
def test_contract(model):
    card = get_model_card(model)
    assert card.sfreq == 128.0 and card.uses_positions
    assert (card.filters.l_freq, card.filters.h_freq) == (0.5, 40.0)
    assert card.scaling.describe() == "µV, unscaled"
    assert {c.repo_id for c in card.checkpoints} == {"braindecode/signal-jepa",
                                                     "braindecode/signal-jepa_without-chans"}
