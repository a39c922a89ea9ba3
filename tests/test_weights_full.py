"""Full-size architectures: the converters produce the released shapes.

One test per model with the real sizes (BIOT 16 channels, LaBraM 128
channels x 3000 samples, BENDR 157 M parameters); the 18-channel BIOT runs
through the Hugging Face path in test_weights_hub.py.
"""

from __future__ import annotations

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import load_into_module, originals_dir, resolve_weights
from test_weights import bendr_files, biot_original, is_head, labram_file, max_diff

pytestmark = pytest.mark.slow


def full(card, n_chans, n_times, n_outputs=2, seed=0):
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs).eval()


def test_biot_full_size_original_file(tmp_path):
    card = get_model_card("biot")
    ref = full(card, 16, 2000)
    sd = ref.state_dict()
    orig = biot_original(sd)
    assert len(orig) == 57 and orig["patch_embedding.projection.weight"].shape == (256, 101)
    path = tmp_path / "EEG-PREST-16-channels.ckpt"
    torch.save(orig, path)

    resolved = resolve_weights(path, card)
    assert resolved.checkpoint.name == "biot-prest-16-original"
    module = full(card, len(resolved.card.channels.slots()), 2000, seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == 56
    ref.final_layer.load_state_dict(module.final_layer.state_dict())  # same head, by hand
    x = torch.randn(2, 16, 2000)
    with torch.no_grad():
        assert max_diff(module(x), ref(x)) <= 1e-5


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


def test_bendr_full_size_release_99_tensors_authors_form(tmp_path):
    card = get_model_card("bendr")
    ref = full(card, 20, 1536)
    sd = ref.state_dict()
    folder = bendr_files(sd, originals_dir(tmp_path) / "bendr-original")
    enc = torch.load(folder / "encoder.pt", weights_only=True)
    ctx = torch.load(folder / "contextualizer.pt", weights_only=True)
    assert (len(enc), len(ctx)) == (24, 76)
    assert ctx["relative_position.0.weight_v"].shape == (512, 32, 25)
    assert ctx["input_conditioning.4.weight"].shape == (1536, 512, 1)
    del enc, ctx

    resolved = resolve_weights("bendr-original", card, cache_dir=tmp_path)
    assert len(resolved.state_dict) == 99  # braindecode gh#992 once matched 0 of 99
    module = full(resolved.card, 20, 1536, seed=1)  # the release's contract: authors' form
    report = load_into_module(module, resolved)
    assert len(report.loaded) == 97  # the authors' form drops the unused final norm
    assert sorted(s.split(" ")[0] for s in report.ignored if "Identity" in s) == [
        "contextualizer.norm.bias",
        "contextualizer.norm.weight",
    ]
    for key in report.loaded:
        assert torch.equal(module.state_dict()[key], sd[key]), key

    # By hand: the same weights, the norm skipped, the module's fresh head.
    ref.contextualizer.norm = torch.nn.Identity()
    ref.final_layer.load_state_dict(module.final_layer.state_dict())
    x = torch.randn(1, 20, 1536)
    with torch.no_grad():
        assert max_diff(module(x), ref(x)) <= 1e-5
    assert all(is_head(card, k) for k in report.initialised)
