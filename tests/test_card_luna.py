"""LUNA: braindecode's module with a features switch, positions via chs_info, the authors' files."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from eegfm_sklearn import get_model_card
from eegfm_sklearn.cards.luna.convert import RENAMES
from eegfm_sklearn.weights import WeightsError, load_into_module, resolve_weights

from conftest import STANDARD_19, card_module

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_module_is_the_authors_network_with_its_two_mlp_norms():
    """pulp-bio/BioFoundation models/LUNA.py:138, :223: timm Mlp(norm_layer=nn.LayerNorm)."""
    from braindecode.models import LUNA

    module = card_module("luna", 400, output="logits").eval()
    backbone = module.backbone
    sd = backbone.state_dict()
    embed = backbone.embed_dim  # 32 (tiny)
    assert sd["channel_location_embedder.norm.weight"].shape == (2 * embed,)
    assert sd["cross_attn.ffn.norm.weight"].shape == (4 * embed,)
    # braindecode 1.8.1's LUNA has neither norm: its state dict is the card's minus those four.
    plain = LUNA(n_chans=19, n_times=400, n_outputs=2, sfreq=256.0, chs_info=backbone.chs_info,
                 embed_dim=embed, num_queries=backbone.num_queries, depth=backbone.depth,
                 num_heads=backbone.num_heads)
    assert set(sd) - set(plain.state_dict()) == {
        "channel_location_embedder.norm.weight", "channel_location_embedder.norm.bias",
        "cross_attn.ffn.norm.weight", "cross_attn.ffn.norm.bias"}
    # A non-trivial norm changes the features: they are computed with it.
    x = torch.randn(3, 19, 400)
    caught = []
    backbone.norm.register_forward_hook(lambda m, i, o: caught.append(o))
    with torch.no_grad():
        tokens = backbone(x, return_features=True)["features"]
        backbone.cross_attn.ffn.norm.weight.mul_(2.0)
        assert not torch.allclose(backbone(x, return_features=True)["features"], tokens)
    assert tokens.shape == (3, 400 // 40, 32 * 2)  # one token per patch, num_queries x embed_dim wide
    torch.testing.assert_close(tokens, caught[0])


def test_positions_reach_braindecode_as_mnes_chs_info():
    backbone = card_module("luna", 400).backbone
    info = mne.create_info(list(STANDARD_19), 256.0, "eeg")
    info.set_montage("standard_1005")
    expected = np.array([ch["loc"][:3] for ch in info["chs"]])
    template = backbone.build_channel_location_template(19).numpy()
    np.testing.assert_allclose(template, expected, rtol=1e-6, atol=1e-7)


def _authors_file(tmp_path, seed=0):
    """LUNA-Base as pretrained (reconstruction decoder included), under the authors' key names."""
    card = get_model_card("luna")
    torch.manual_seed(seed)
    pretraining = card.module_class(n_chans=19, n_times=1280, n_outputs=0, sfreq=256.0, **card.build_kwargs)
    assert hasattr(pretraining, "decoder_head") and hasattr(pretraining, "channel_emb")
    to_authors = {v: k for k, v in RENAMES.items()}
    state = {to_authors.get(k, k): v.contiguous() for k, v in pretraining.state_dict().items()}
    assert "cross_attn.temparature" in state and "channel_location_embedder.0.fc1.weight" in state
    assert "channel_location_embedder.0.norm.weight" in state and "cross_attn.ffn.norm.weight" in state
    snap = tmp_path / "cache" / "models--PulpBio--LUNA" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text(COMMIT)
    save_file(state, str(snap / "LUNA_base.safetensors"))
    return pretraining.state_dict(), state, tmp_path / "cache"


def test_the_authors_base_file_loads_by_name_offline(tmp_path, monkeypatch):
    card = get_model_card("luna")
    reference, state, cache = _authors_file(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_weights("luna-base", card, cache_dir=cache)
    assert resolved.fmt == "luna-pulpbio"
    tiny = card_module("luna", 1000)
    torch.manual_seed(1)
    module = resolved.card.build_module(19, 1000, 2, slots=tiny.slot_names, positions=tiny.slot_positions)
    report = load_into_module(module, resolved)
    backbone = [k for k in module.state_dict() if not k.startswith("final_layer.")]
    assert set(report.loaded) == set(backbone)
    for key in backbone:
        assert torch.equal(module.state_dict()[key], reference[key]), key
    assert not any(k.startswith(("decoder_head.", "channel_emb.")) for k in resolved.state_dict)
    # A file missing one encoder tensor is refused, naming it.
    partial = tmp_path / "partial"
    partial.mkdir()
    save_file({k: v for k, v in state.items() if k != "blocks.3.attn.qkv_proj.weight"},
              str(partial / "LUNA_base.safetensors"))
    with pytest.raises(WeightsError, match=r"missing from the checkpoint.*blocks\.3\.attn\.qkv_proj\.weight"):
        load_into_module(resolved.card.build_module(19, 1000, 2, slots=tiny.slot_names,
                                                    positions=tiny.slot_positions),
                         resolve_weights(partial, card))


@pytest.mark.parametrize("size, width", [("base", 256), ("large", 576), ("huge", 1024)])
def test_each_size_has_its_architecture(size, width):
    card = get_model_card("luna")
    eff = card.for_checkpoint(card.get_checkpoint(f"luna-{size}"))
    assert eff.embedding_size == width
    assert eff.build_kwargs["embed_dim"] * eff.build_kwargs["num_queries"] == width
    assert eff.checkpoints[0].repo_id == "PulpBio/LUNA"
    assert card.get_checkpoint(f"luna-{size}").filenames == (f"LUNA_{size}.safetensors",)


def test_contract():
    card = get_model_card("luna")
    assert card.sfreq == 256.0 and card.window.multiple == 40 and card.uses_positions
    assert (card.filters.l_freq, card.filters.h_freq) == (0.1, 75.0)
    assert issubclass(card.module_class, __import__("braindecode").models.LUNA)


def test_a_file_of_braindecodes_luna_without_the_norms_is_refused_with_the_reason(tmp_path):
    from braindecode.models import LUNA

    card = get_model_card("luna")
    plain = LUNA(n_chans=19, n_times=1280, n_outputs=2, sfreq=256.0, **card.build_kwargs)
    save_file({k: v.contiguous() for k, v in plain.state_dict().items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"braindecode 1\.8\.1's LUNA.*LayerNorm.*models/LUNA\.py:138"):
        resolve_weights(tmp_path / "model.safetensors", card)
