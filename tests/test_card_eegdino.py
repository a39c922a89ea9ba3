"""EEG-DINO's card: 19 slots by index, small and medium checkpoints at full size."""

from __future__ import annotations

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.cards.eegdino import EEGDINO_CHANNELS, MEDIUM_KWARGS
from eegfm_sklearn.weights import WeightsError, load_into_module, resolve_weights, save_weights_dir

CARD = get_model_card("eegdino")


def _backbone(module, card=CARD):
    return {k: v for k, v in module.state_dict().items() if not k.startswith(card.head_prefixes)}


def test_presets_and_slots_match_braindecode():
    import inspect

    from braindecode.models import EEGDINO
    from braindecode.models.eegdino import EEGDINO_CONFIGS

    assert MEDIUM_KWARGS == EEGDINO_CONFIGS["medium"]
    defaults = {k: p.default for k, p in inspect.signature(EEGDINO).parameters.items()}
    assert all(defaults[k] == v for k, v in EEGDINO_CONFIGS["small"].items())  # build_kwargs={} is Small
    assert defaults["n_channel_embeddings"] == len(EEGDINO_CHANNELS) == len(set(EEGDINO_CHANNELS)) == 19
    assert CARD.channels.slots(["Cz", "Fp1"]) == EEGDINO_CHANNELS  # by index, whatever the input order


def test_small_full_size_folder_loads_every_backbone_tensor(tmp_path):
    torch.manual_seed(0)
    ref = CARD.build_module(19, 1000, 2).eval()
    assert ref.emb_dim == 200 and sum(p.numel() for p in ref.parameters()) > 4_000_000
    resolved = resolve_weights(save_weights_dir(ref, tmp_path / "small"), CARD)
    torch.manual_seed(1)
    module = CARD.build_module(19, 800, 3).eval()  # any length of whole patches
    report = load_into_module(module, resolved)
    assert set(report.loaded) == set(_backbone(module))
    x = torch.randn(2, 19, 800)
    with torch.no_grad():
        torch.testing.assert_close(CARD.features(module(x, return_features=True)),
                                   CARD.features(ref(x, return_features=True)), rtol=0, atol=1e-5)


def test_medium_by_registry_name_builds_the_medium_architecture(hub, tmp_path, monkeypatch):
    ckpt = CARD.get_checkpoint("eegdino-medium")
    medium = CARD.for_checkpoint(ckpt)
    torch.manual_seed(0)
    ref = medium.build_module(19, 1000, 2).eval()
    assert ref.emb_dim == medium.embedding_size == 512 and len(ref.encoder_layers) == 16
    hub.publish(ckpt.repo_id, save_weights_dir(ref, tmp_path / "src", {"n_chans": 19, "sfreq": 200}))
    resolve_weights("eegdino-medium", CARD, cache_dir=tmp_path / "cache")  # downloads into the cache
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_weights("eegdino-medium", CARD, cache_dir=tmp_path / "cache")
    assert resolved.card.build_kwargs["dim_feedforward"] == 1024
    torch.manual_seed(1)
    module = resolved.card.build_module(19, 600, 2).eval()
    report = load_into_module(module, resolved)
    assert set(report.loaded) == set(_backbone(module, resolved.card))
    # The Small architecture cannot take the Medium weights: every mismatch is named.
    mismatch = r"shape mismatches \(175\): global_tokens: checkpoint \(1, 1, 512\) vs model \(1, 1, 200\)"
    with pytest.raises(WeightsError, match=mismatch):
        load_into_module(CARD.build_module(19, 600, 2), resolved)


def test_features_are_the_mean_of_patch_tokens_and_cls_is_the_global_token():
    module = CARD.build_module(19, 400, 2, dict(CARD.tiny_kwargs)).eval()
    x = torch.randn(3, 19, 400)
    with torch.no_grad():
        tokens = CARD.tokens(module, x)
        assert tokens["tokens"].shape == (3, 19 * 2, 32) and tokens["cls"].shape == (3, 32)
        module.return_encoder_output = True  # braindecode's linear-probing output
        torch.testing.assert_close(module(x), CARD.features(module(x, return_features=True)))
