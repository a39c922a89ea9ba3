"""CBraMod's card: full-size loads from braindecode's layout and the authors' file."""

from __future__ import annotations

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import WeightsError, load_into_module, originals_dir, resolve_weights, save_weights_dir

CARD = get_model_card("cbramod")


def _full(n_chans, n_times, seed):
    torch.manual_seed(seed)
    return CARD.build_module(n_chans, n_times, 2).eval()


def _backbone(module):
    return {k: v for k, v in module.state_dict().items() if not k.startswith(CARD.head_prefixes)}


def _same_outputs(a, b, n_chans, n_times):
    x = torch.randn(2, n_chans, n_times)
    with torch.no_grad():
        fa, fb = a(x, return_features=True)["features"], b(x, return_features=True)["features"]
    torch.testing.assert_close(fa, fb, rtol=0, atol=1e-5)


def test_full_size_braindecode_folder_loads_every_backbone_tensor(tmp_path):
    ref = _full(19, 800, seed=0)
    assert sum(p.numel() for p in ref.parameters()) > 4_000_000  # the released size, not a tiny one
    folder = save_weights_dir(ref, tmp_path / "cbramod", {"n_chans": 19})
    resolved = resolve_weights(folder, CARD)
    assert resolved.fmt == "braindecode"
    # The backbone does not depend on the channel count or window length.
    module = _full(8, 1200, seed=1)
    report = load_into_module(module, resolved)
    assert set(_backbone(module)) == set(report.loaded)
    for key, value in _backbone(module).items():
        assert torch.equal(value, ref.state_dict()[key]), key
    _same_outputs(module, _full(8, 1200, seed=0), 8, 1200)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_authors_release_by_registry_name(prefix, tmp_path):
    ref = _full(19, 600, seed=0)
    # The authors' CBraMod has the same module names; their file is its plain
    # state dict without braindecode's head (they fine-tune their own), and
    # DataParallel runs add "module.".
    authors = {prefix + k: v for k, v in _backbone(ref).items()}
    folder = originals_dir(tmp_path) / "cbramod-base-original"
    folder.mkdir(parents=True)
    torch.save(authors, folder / "pretrained_weights.pth")
    resolved = resolve_weights("cbramod-base-original", CARD, cache_dir=tmp_path)
    module = _full(19, 600, seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == len(authors) == len(_backbone(module))
    _same_outputs(module, ref, 19, 600)


def test_missing_release_names_where_to_put_it(tmp_path):
    with pytest.raises(WeightsError, match=r"pretrained_weights\.pth.*weighting666/CBraMod"):
        resolve_weights("cbramod-base-original", CARD, cache_dir=tmp_path)


def test_any_channel_count_and_flatten_default():
    from eegfm_sklearn.backbone import CardModule

    for n_chans in (4, 19, 32):
        slots = tuple(f"E{i}" for i in range(n_chans))
        assert CARD.channels.slots(slots) == slots
        module = CardModule(CARD, {"n_chans": n_chans, "n_times": 400, "n_outputs": 2,
                                   "model_kwargs": dict(CARD.tiny_kwargs)}, slots, output="features").eval()
        with torch.no_grad():
            # tokens are d_model wide (4 conv channels x 8 = 32 for the tiny patch embedding)
            assert module(torch.randn(1, n_chans, 400)).shape == (1, n_chans * 2 * 32)


def test_features_are_the_encoders_output_as_the_authors_read_them(tmp_path):
    """The authors replace proj_out (pretraining reconstruction) by Identity downstream.

    wjq-learning/CBraMod models/model_for_*.py; braindecode 1.8.1 returns proj_out(encoder(x)).
    """
    from torch import nn

    module = _full(4, 400, seed=0)
    assert isinstance(module.proj_out, nn.Identity)
    x = torch.randn(2, 4, 400)
    with torch.no_grad():
        expected = module.encoder(module.patch_embedding(x.reshape(2, 4, 2, 200)))
        torch.testing.assert_close(module(x, return_features=True)["features"], expected, rtol=0, atol=0)
        assert module(x).shape == (2, 2)  # braindecode's head reads the same tokens
    # A file with the reconstruction head (the authors' pretrained_weights.pth, the Hub's) loads;
    # proj_out is reported as ignored, not silently dropped.
    state = {**_backbone(module), "proj_out.0.weight": torch.zeros(200, 200), "proj_out.0.bias": torch.zeros(200)}
    folder = originals_dir(tmp_path) / "cbramod-base-original"
    folder.mkdir(parents=True)
    torch.save(state, folder / "pretrained_weights.pth")
    report = load_into_module(_full(4, 400, seed=1), resolve_weights("cbramod-base-original", CARD,
                                                                     cache_dir=tmp_path))
    assert sorted(i.split(" ")[0] for i in report.ignored) == ["proj_out.0.bias", "proj_out.0.weight"]
    assert all("Identity" in i for i in report.ignored)
