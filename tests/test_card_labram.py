"""LaBraM's card: its channel vocabulary and the authors' release layout."""

from __future__ import annotations

import argparse

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import WeightsError, load_into_module, originals_dir, resolve_weights

from conftest import assert_loaded, build, by_hand, is_head, max_diff

LABRAM_CH = ["FP1", "FZ", "CZ", "O1"]


def labram_original(sd, lm_rows=64):
    """braindecode Labram -> authors' pretraining layout under ``student.``."""
    out = {}
    for key, value in sd.items():
        if key.startswith("final_layer."):
            continue
        key = key.replace("position_embedding", "pos_embed").replace("temporal_embedding", "time_embed")
        key = key.replace("patch_embed.temporal_conv.", "patch_embed.")
        key = key.replace(".mlp.0.", ".mlp.fc1.").replace(".mlp.2.", ".mlp.fc2.")
        out["student." + key] = value
    dim = sd["cls_token"].shape[-1]
    out["student.mask_token"] = torch.zeros(1, 1, dim)
    out["student.lm_head.weight"] = torch.randn(lm_rows, dim)
    out["student.lm_head.bias"] = torch.zeros(lm_rows)
    out["lm_head.weight"] = torch.randn(lm_rows, dim)
    out["lm_head.bias"] = torch.zeros(lm_rows)
    out["projection_head.0.weight"] = torch.randn(dim, dim)
    out["projection_head.0.bias"] = torch.zeros(dim)
    out["logit_scale"] = torch.tensor(2.0)
    out["student.blocks.0.attn.relative_position_index"] = torch.zeros(3, 3, dtype=torch.long)
    return out


def labram_file(sd, path):
    obj = {
        "model": labram_original(sd),
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]},
        "epoch": 49,
        "args": argparse.Namespace(model="labram_base_patch200_1600", lr=5e-4, input_size=1600),
    }
    torch.save(obj, path)
    return path


def test_labram_original_wrapper_loads_and_cuts_temporal_embedding(tmp_path):
    card = get_model_card("labram")
    source = build("labram", 4, 3000, seed=0)  # 16-row time_embed, as released
    sd = source.state_dict()
    path = labram_file(sd, tmp_path / "labram-base.pth")
    resolved = resolve_weights(path, card)
    assert resolved.fmt == "labram-original"
    assert resolved.checkpoint is not None and resolved.checkpoint.name == "labram-base-original"
    assert resolved.state_dict["temporal_embedding"].shape[1] == 16

    module = build("labram", 4, 800, seed=1)  # 4 patches -> 5 rows
    report = load_into_module(module, resolved)

    def cut(key, value):
        return value[:, :5] if key == "temporal_embedding" else value

    assert_loaded(card, module, sd, report, adapt=cut)
    assert report.adapted == ("temporal_embedding (1, 16, 200) -> (1, 5, 200)",)

    hand_sd = {k: cut(k, v) for k, v in sd.items() if not is_head(card, k)}
    hand_sd.update({k: v for k, v in module.state_dict().items() if is_head(card, k)})
    hand = by_hand("labram", 4, 800, hand_sd)
    x = torch.randn(2, 4, 800)
    with torch.no_grad():
        assert max_diff(module(x, ch_names=LABRAM_CH), hand(x, ch_names=LABRAM_CH)) <= 1e-5


def test_labram_finetuned_layout_keeps_head(tmp_path):
    card = get_model_card("labram")
    sd = build("labram", 4, 800, n_outputs=2).state_dict()
    model = {k[len("student."):]: v for k, v in labram_original(sd).items() if k.startswith("student.")}
    model["head.weight"], model["head.bias"] = sd["final_layer.weight"], sd["final_layer.bias"]
    path = tmp_path / "checkpoint-best.pth"
    torch.save({"module": model, "epoch": 1}, path)
    module = build("labram", 4, 800, n_outputs=2, seed=7)
    load_into_module(module, resolve_weights(path, card), keep_head=True)
    assert torch.equal(module.final_layer.weight, sd["final_layer.weight"])


def test_labram_window_longer_than_checkpoint_is_refused(tmp_path):
    card = get_model_card("labram")
    path = labram_file(build("labram", 4, 800).state_dict(), tmp_path / "short.pth")
    shapes = r"temporal_embedding: checkpoint \(1, 5, 200\) vs model \(1, 16, 200\)"
    with pytest.raises(WeightsError, match=shapes):
        load_into_module(build("labram", 4, 3000), resolve_weights(path, card))


def full(card, n_chans, n_times, n_outputs=2, seed=0):
    """The full-size architecture (released shapes)."""
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs).eval()


@pytest.mark.slow
def test_labram_full_size_release_by_registry_name(tmp_path):
    from eegfm_sklearn.cards.labram import LABRAM_CHANNELS

    card = get_model_card("labram")
    ref = full(card, 128, 3000)
    sd = ref.state_dict()
    folder = originals_dir(tmp_path) / "labram-base-original"
    folder.mkdir(parents=True)
    labram_file(sd, folder / "labram-base.pth")

    resolved = resolve_weights("labram-base-original", card, cache_dir=tmp_path)
    assert resolved.state_dict["temporal_embedding"].shape == (1, 16, 200)
    assert resolved.state_dict["position_embedding"].shape == (1, 129, 200)
    assert resolved.state_dict["blocks.11.mlp.0.weight"].shape == (800, 200)
    assert len(resolved.state_dict) == 221
    module = full(card, 128, 3000, seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == 221 and report.adapted == ()
    ref.final_layer.load_state_dict(module.final_layer.state_dict())
    # 16 of the 128 channels keep the CPU forward short; all weights loaded.
    names = list(LABRAM_CHANNELS[:16])
    x = torch.randn(1, 16, 3000)
    with torch.no_grad():
        assert max_diff(module(x, ch_names=names), ref(x, ch_names=names)) <= 1e-5


def test_vocabulary_matches_braindecode():
    from braindecode.models.labram import LABRAM_CHANNEL_ORDER

    assert get_model_card("labram").channels.names == tuple(LABRAM_CHANNEL_ORDER)
