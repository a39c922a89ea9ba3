"""EEGPT's card: 62-name vocabulary, braindecode's and the authors' layouts at full size."""

from __future__ import annotations

import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.cards.eegpt import EEGPT_CHANNELS
from eegfm_sklearn.weights import load_into_module, originals_dir, resolve_weights, save_weights_dir

CARD = get_model_card("eegpt")
SLOTS = CARD.channels.slots(["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
                             "T3", "T4", "T5", "T6", "Fz", "Cz", "Pz"])


def _card_module(seed, n_times=1024):
    torch.manual_seed(seed)
    return CARD.build_module(len(SLOTS), n_times, 2, slots=SLOTS).eval()


def _reference(encoder_state, n_times=1024):
    """braindecode's EEGPT built by hand for the same channels, with the given encoder."""
    from braindecode.models import EEGPT

    ref = EEGPT(n_chans=len(SLOTS), n_times=n_times, n_outputs=2, sfreq=256, chan_proj_type="none", patch_stride=64,
                chs_info=[{"ch_name": n} for n in SLOTS]).eval()
    ref.target_encoder.load_state_dict(encoder_state)
    return ref


def _features(module, x):
    with torch.no_grad():
        return module(x, return_features=True)["features"]


def test_vocabulary_is_braindecodes_and_names_map_to_its_rows():
    from braindecode.models.eegpt import CHANNEL_DICT
    from braindecode.models.eegpt import EEGPT_CHANNELS as BD

    assert list(EEGPT_CHANNELS) == list(BD) and len(EEGPT_CHANNELS) == 62
    assert SLOTS[12:16] == ("T7", "T8", "P7", "P8")  # old 10-20 names reach their rows
    module = _card_module(seed=0, n_times=256)
    assert module.chans_id.tolist() == [[CHANNEL_DICT[n] for n in SLOTS]]
    assert module.target_encoder.chan_embed.weight.shape == (62, 512)


def test_braindecode_checkpoint_of_other_channels_loads_every_backbone_tensor(tmp_path):
    from braindecode.models import EEGPT

    # A checkpoint saved from braindecode's default EEGPT (58 inputs projected to 19):
    # its chans_id and channel projection describe its own channels.
    torch.manual_seed(0)
    saved = EEGPT(n_chans=58, n_times=1024, n_outputs=4, sfreq=256).eval()
    resolved = resolve_weights(save_weights_dir(saved, tmp_path / "eegpt"), CARD)
    module = _card_module(seed=1)
    report = load_into_module(module, resolved)
    head = CARD.head_prefixes
    assert set(report.loaded) == {k for k in module.state_dict() if not k.startswith(head)}
    assert len(report.loaded) == len(saved.target_encoder.state_dict()) == 102  # 8 blocks x 12 + 6
    ignored = {s.split(" ")[0] for s in report.ignored}
    assert "chans_id" in ignored and any(k.startswith("chan_proj.") for k in ignored)
    assert module.chans_id.shape == (1, 19)  # its own channels, not the checkpoint's 19 projected slots
    x = torch.randn(2, 19, 1024)
    ref = _reference(saved.target_encoder.state_dict())
    torch.testing.assert_close(_features(module, x), _features(ref, x), rtol=0, atol=1e-5)


def test_authors_lightning_file_by_registry_name(tmp_path):
    torch.manual_seed(0)
    source = _card_module(seed=0)
    target = {f"target_encoder.{k}": v for k, v in source.target_encoder.state_dict().items()}
    state = dict(target)
    state.update({"encoder." + k[len("target_encoder."):]: v + 1.0 for k, v in target.items()})  # online encoder
    state.update({"predictor.mask_token": torch.zeros(1, 1, 512),
                  "predictor.predictor_embed.weight": torch.randn(512, 512),
                  "reconstructor.time_embed": torch.randn(1, 16, 512),
                  "reconstructor.reconstructor_proj.weight": torch.randn(64, 512)})
    folder = originals_dir(tmp_path) / "eegpt-large-original"
    folder.mkdir(parents=True)
    torch.save({"state_dict": state, "epoch": 199, "global_step": 12345, "pytorch-lightning_version": "1.9.0"},
               folder / "eegpt_mcae_58chs_4s_large4E.ckpt")
    resolved = resolve_weights("eegpt-large-original", CARD, cache_dir=tmp_path)
    assert resolved.fmt == "eegpt-original" and set(resolved.state_dict) == set(target)
    module = _card_module(seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == len(target)
    x = torch.randn(2, 19, 1024)
    torch.testing.assert_close(_features(module, x), _features(source, x), rtol=0, atol=1e-5)
    # The same file passed by path is recognised as the release.
    assert resolve_weights(folder / "eegpt_mcae_58chs_4s_large4E.ckpt", CARD).checkpoint.name == "eegpt-large-original"


def test_contract_is_the_authors_average_reference_in_mv_and_patches_without_overlap():
    # BINE022/EEGPT prepare_pretrain_dataset.py: x - x.mean(-2), then µV/1000 (mV); no z-score.
    rng = torch.Generator().manual_seed(0)
    X = (torch.randn(3, len(SLOTS), 512, generator=rng) * 40.0 + 7.0).numpy()
    expected = (X - X.mean(axis=1, keepdims=True)) / 1000.0
    got = CARD.scaling.apply(X, {})
    assert abs(float(got.std()) - float(expected.std())) < 1e-6  # not unit-variance per channel
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected.astype("float32")),
                               rtol=1e-5, atol=1e-8)
    # Their EEGTransformer patches with stride = patch size (64): 1024 samples -> 16 tokens, not 31.
    assert CARD.window.multiple == 64
    module = CARD.build_module(len(SLOTS), 1024, 2, model_kwargs=dict(CARD.tiny_kwargs), slots=SLOTS).eval()
    with torch.no_grad():
        feats = module(torch.randn(2, len(SLOTS), 1024), return_features=True)["features"]
    assert feats.shape[1] == 1024 // 64
