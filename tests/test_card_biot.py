"""BIOT's card: its bipolar montage per checkpoint and the authors' release layout."""

from __future__ import annotations

import re

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import load_into_module, resolve_weights, sha256_file

from conftest import assert_loaded, build, by_hand, is_head, max_diff


def biot_original(sd):
    """braindecode BIOT -> authors' BIOTEncoder state dict (+ ``index``)."""
    out = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    out["index"] = torch.arange(out["channel_tokens.weight"].shape[0])
    return out


@pytest.mark.parametrize("wrap", ["plain", "lightning", "finetuned", "dataparallel"])
def test_biot_original_layouts_load_fully(tmp_path, wrap):
    card = get_model_card("biot")
    ref = build("biot", 16, 400, seed=0)
    sd = ref.state_dict()
    orig = biot_original(sd)
    if wrap == "lightning":
        inner = {"model.biot." + k: v for k, v in orig.items()}
        inner["model.prediction.weight"] = torch.randn(5, 32)
        inner["model.classifier_tuab.weight"] = torch.randn(2, 32)
        obj = {"state_dict": inner, "epoch": 3, "global_step": 10, "pytorch-lightning_version": "2.1"}
    elif wrap == "finetuned":
        obj = {"biot." + k: v for k, v in orig.items()}
        obj["classifier.clshead.1.weight"] = torch.randn(3, 32)
        obj["classifier.clshead.1.bias"] = torch.randn(3)
    elif wrap == "dataparallel":
        obj = {"module." + k: v for k, v in orig.items()}
    else:
        obj = orig
    path = tmp_path / "my-biot.ckpt"
    torch.save(obj, path)

    resolved = resolve_weights(path, card)
    assert resolved.fmt == "biot-original"
    assert resolved.files == {str(path): sha256_file(path)}
    module = build("biot", 16, 400, seed=1)
    report = load_into_module(module, resolved)
    assert_loaded(card, module, sd, report)

    x = torch.randn(2, 16, 400)
    head = {k: v for k, v in module.state_dict().items() if is_head(card, k)}
    hand = by_hand("biot", 16, 400, {**sd, **head})
    with torch.no_grad():
        assert max_diff(module(x), hand(x)) <= 1e-5


def full(card, n_chans, n_times, n_outputs=2, seed=0):
    """The full-size architecture (released shapes)."""
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs).eval()


@pytest.mark.slow
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


def test_every_checkpoint_reads_the_16_tcp_pairs_as_the_authors_fine_tune_them():
    # ycq091044/BIOT README:83-84: the 18-channel checkpoints fine-tuned with --in_channels 18 on
    # TUAB's 16 pairs; the released module keeps its 18 channel tokens (input_shape).
    card = get_model_card("biot")
    for ckpt in card.checkpoints:
        slots = card.for_checkpoint(ckpt).channels.slots()
        assert len(slots) == 16 and slots[0] == "FP1-F7" and slots[-1] == "P4-O2"
        assert ckpt.input_shape[0] == int(re.search(r"(16|18)", ckpt.name).group(1))


def test_an_18_token_file_serves_the_16_pairs_with_its_first_rows(tmp_path):
    card = get_model_card("biot")
    sd18 = build("biot", 18, 400, seed=0).state_dict()
    path = tmp_path / "EEG-six-datasets-18-channels.ckpt"
    torch.save(biot_original(sd18), path)
    resolved = resolve_weights(path, card)
    assert resolved.checkpoint.name == "biot-six-datasets-18-original"
    module = build("biot", 16, 400, seed=1, card=resolved.card)
    report = load_into_module(module, resolved)
    tokens = module.state_dict()["encoder.channel_tokens.weight"]
    assert torch.equal(tokens, sd18["encoder.channel_tokens.weight"][:16])
    assert any("channel_tokens" in line and "(18, 32) -> (16, 32)" in line for line in report.adapted)


def test_percentile_epsilon_is_the_authors_1e_8_volts():
    # utils.py:28-31 divides volts by (95th percentile + 1e-8): 1e-2 in the adapter's µV.
    import numpy as np

    scaling = get_model_card("biot").scaling
    x_uv = np.random.default_rng(0).normal(0, 20, (1, 2, 2000))
    volts = x_uv * 1e-6
    authors = volts / (np.quantile(np.abs(volts), 0.95, method="linear", axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(scaling.apply(x_uv, {}), authors, rtol=2e-6, atol=0)
