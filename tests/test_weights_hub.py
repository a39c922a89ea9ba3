"""The Hugging Face path: download into the cache, then read it offline.

A tiny Hub-compatible server on 127.0.0.1 (HF_ENDPOINT; the ``hub`` fixture in
conftest.py) serves files, so ``hf_hub_download`` fills a real huggingface_hub
cache; the server is then stopped and HF_HUB_OFFLINE=1 set. Nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import WeightsError, load_into_module, resolve_weights, save_weights_dir


@pytest.mark.slow
def test_registry_name_downloads_then_loads_offline_full_size_18ch(hub, tmp_path, monkeypatch):
    card = get_model_card("biot")
    ckpt = card.get_checkpoint("biot-shhs-prest-18")
    torch.manual_seed(0)
    ref = card.build_module(18, 2000, 2).eval()  # released shapes: 18 x 256
    save_weights_dir(ref, tmp_path / "src", {"n_chans": 18, "n_times": 2000, "sfreq": 200})
    hub.publish(ckpt.repo_id, tmp_path / "src")
    cache = tmp_path / "cache"

    online = resolve_weights("biot-shhs-prest-18", card, cache_dir=cache)
    assert online.source == "biot-shhs-prest-18 (braindecode/biot-pretrained-shhs-prest-18chs@main)"
    assert online.config["n_chans"] == 18
    path = next(iter(online.files))
    assert path.startswith(str(cache / "models--braindecode--biot-pretrained-shhs-prest-18chs"))
    published = (tmp_path / "src" / "model.safetensors").read_bytes()
    assert online.files[path] == hashlib.sha256(published).hexdigest()

    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_weights("biot-shhs-prest-18", card, cache_dir=cache)
    n_chans = len(resolved.card.channels.slots())  # 16: the authors fine-tune it on the 16 pairs
    assert n_chans == 16
    torch.manual_seed(1)
    module = resolved.card.build_module(n_chans, 2000, 4).eval()
    report = load_into_module(module, resolved)
    assert len(report.loaded) == 56
    for key in report.loaded:
        want = ref.state_dict()[key]
        want = want[:16] if key == "encoder.channel_tokens.weight" else want
        assert torch.equal(module.state_dict()[key], want)
    # The plain repo id reads the same cache offline.
    assert resolve_weights(ckpt.repo_id, card, cache_dir=cache).files == resolved.files


def test_hf_home_and_pytorch_model_bin_fallback(hub, tmp_path, monkeypatch):
    card = get_model_card("bendr")
    torch.manual_seed(0)
    ref = card.build_module(20, 768, 2, dict(card.tiny_kwargs)).eval()
    # The older bendr-pretrained-v1 layout: only pytorch_model.bin, wrapped.
    src = tmp_path / "src"
    src.mkdir()
    torch.save({"model_state_dict": ref.state_dict()}, src / "pytorch_model.bin")
    hub.publish("braindecode/bendr-pretrained-v1", src)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)

    resolved = resolve_weights("braindecode/bendr-pretrained-v1", card)
    path = next(iter(resolved.files))
    assert path.endswith("pytorch_model.bin")
    assert path.startswith(str(tmp_path / "hf_home" / "hub"))
    assert resolved.config is None
    module = card.build_module(20, 768, 2, dict(card.tiny_kwargs))
    assert len(load_into_module(module, resolved).loaded) == len(ref.state_dict()) - 3

    with pytest.raises(WeightsError, match=r"has none of \['model.safetensors', 'pytorch_model.bin'\]"):
        resolve_weights("braindecode/empty-repo", card)


def test_offline_with_empty_cache_says_how_to_place_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    card = get_model_card("labram")
    with pytest.raises(WeightsError) as err:
        resolve_weights("labram-base", card, cache_dir=tmp_path / "empty")
    msg = str(err.value)
    assert "braindecode/labram-pretrained" in msg and "HF_HUB_OFFLINE=1" in msg
    assert "by hand" in msg and str(tmp_path / "empty") in msg
    assert "hf download braindecode/labram-pretrained" in msg


def test_hub_sha256_mismatch_is_refused(hub, tmp_path):
    card = get_model_card("biot")
    torch.manual_seed(0)
    save_weights_dir(card.build_module(16, 400, 2, dict(card.tiny_kwargs)), tmp_path / "src", {})
    hub.publish("someone/biot-tiny", tmp_path / "src")
    ckpt = dataclasses.replace(
        card.get_checkpoint("biot-prest-16"),
        name="pinned-hub",
        repo_id="someone/biot-tiny",
        sha256={"model.safetensors": "f" * 64},
    )
    card = dataclasses.replace(card, checkpoints=(ckpt,))
    with pytest.raises(WeightsError, match=r"SHA-256 mismatch.*pinned-hub.*f{64}"):
        resolve_weights("pinned-hub", card, cache_dir=tmp_path / "cache")
