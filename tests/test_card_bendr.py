"""BENDR's card: the authors' two-file release and their form of the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import WeightsError, load_into_module, originals_dir, resolve_weights, save_weights_dir

from conftest import assert_loaded, build, by_hand, is_head, max_diff


def bendr_original(sd):
    """braindecode BENDR -> authors' (encoder.pt, contextualizer.pt) dicts."""
    enc = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    ctx = {}
    for key, value in sd.items():
        if not key.startswith("contextualizer."):
            continue
        key = key[len("contextualizer."):]
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        if key == "input_conditioning.3.weight":
            key, value = "input_conditioning.4.weight", value.unsqueeze(-1)
        elif key == "input_conditioning.3.bias":
            key = "input_conditioning.4.bias"
        ctx[key] = value
    ctx["mask_replacement"] = torch.randn(enc["encoder.Encoder_0.0.weight"].shape[0])
    return enc, ctx


def bendr_files(sd, folder, prefix=""):
    folder.mkdir(parents=True, exist_ok=True)
    enc, ctx = bendr_original(sd)
    torch.save({prefix + k: v for k, v in enc.items()}, folder / "encoder.pt")
    torch.save({prefix + k: v for k, v in ctx.items()}, folder / "contextualizer.pt")
    return folder


@pytest.mark.parametrize("how", ["folder", "dict", "one-file", "module-prefix"])
def test_bendr_original_release_loads_in_authors_form(tmp_path, how):
    card = get_model_card("bendr")
    sd = build("bendr", 20, 768, seed=0).state_dict()
    folder = bendr_files(sd, tmp_path / "release", prefix="module." if how == "module-prefix" else "")
    weights = {
        "folder": folder,
        "module-prefix": folder,
        "dict": {"encoder": folder / "encoder.pt", "contextualizer": folder / "contextualizer.pt"},
        "one-file": folder / "contextualizer.pt",
    }[how]
    resolved = resolve_weights(weights, card)
    assert resolved.fmt == "bendr-original"
    assert resolved.checkpoint.name == "bendr-original"
    assert len(resolved.files) == 2

    module = build("bendr", 20, 768, seed=1, card=resolved.card)  # the release's contract: authors' form
    report = load_into_module(module, resolved)
    assert isinstance(module.contextualizer.norm, torch.nn.Identity)
    assert_loaded(card, module, sd, report)
    assert len(report.loaded) == len([k for k in sd if not is_head(card, k)]) - 2
    assert any(s.startswith("contextualizer.norm.weight") for s in report.ignored)

    def no_norm(m):
        m.contextualizer.norm = torch.nn.Identity()

    hand_sd = {k: v for k, v in sd.items() if not is_head(card, k) and ".norm." not in k}
    hand_sd.update({k: v for k, v in module.state_dict().items() if is_head(card, k)})
    hand = by_hand("bendr", 20, 768, hand_sd, tweak=no_norm)
    x = torch.randn(2, 20, 768)
    with torch.no_grad():
        assert max_diff(module(x), hand(x)) <= 1e-5


def test_bendr_single_file_without_its_pair_is_explained(tmp_path):
    card = get_model_card("bendr")
    folder = bendr_files(build("bendr", 20, 768).state_dict(), tmp_path / "r")
    (folder / "contextualizer.pt").unlink()
    with pytest.raises(WeightsError, match=r"one file of the 'bendr-original' release.*contextualizer"):
        resolve_weights(folder / "encoder.pt", card)


def test_bendr_braindecode_form_keeps_final_norm(tmp_path):
    card = get_model_card("bendr")
    ref = build("bendr", 20, 768, seed=0)
    save_weights_dir(ref, tmp_path / "bd", {"n_chans": 20})
    resolved = resolve_weights(tmp_path / "bd", card)
    assert resolved.card.post_build is None
    module = build("bendr", 20, 768, seed=1, card=resolved.card)
    report = load_into_module(module, resolved)
    assert isinstance(module.contextualizer.norm, torch.nn.LayerNorm)
    heads = [k for k in ref.state_dict() if is_head(card, k)]
    assert report.ignored == tuple(f"{k} (checkpoint head, re-initialised)" for k in heads)


def test_old_weight_norm_names_and_model_state_dict_wrapper(tmp_path):
    """bendr-pretrained-v1 wrapped {'model_state_dict': ...} with weight_g/_v names."""
    card = get_model_card("bendr")
    sd = build("bendr", 20, 768).state_dict()
    old = {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in sd.items()
    }
    path = tmp_path / "pytorch_model.bin"
    torch.save({"model_state_dict": old}, path)
    module = build("bendr", 20, 768, seed=3)
    report = load_into_module(module, resolve_weights(path, card))
    assert_loaded(card, module, sd, report)


def full(card, n_chans, n_times, n_outputs=2, seed=0):
    """The full-size architecture (released shapes)."""
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs).eval()


@pytest.mark.slow
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


# -- the authors' DN3 preparation (SPOClab-ca/dn3 transforms/instance.py, channels.py) ----------
OLD_NAMES = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
             "T6", "O1", "O2"]


def test_t3_t4_leave_the_t7_t8_slots_empty_as_in_the_authors_mapping():
    # DN3's Deep1010 rows T3 and T7 are distinct and To1020 reads T7/T8 only (channels.py:27,
    # instance.py:406-412): T3/T4 data never reach the T7/T8 slots.
    from eegfm_sklearn.preprocessing.montage import plan_channels

    card = get_model_card("bendr")
    plan = plan_channels(card.channels, OLD_NAMES, "zero")
    status = plan.report.as_dict()
    assert status["T7"] == status["T8"] == "zero" and status["T5"] == status["T6"] == "matched"
    assert np.all(plan.matrix[plan.report.slots.index("T7")] == 0)
    assert {"T3", "T4"} <= set(plan.report.unused)
    modern = plan_channels(card.channels, [{"T5": "P7", "T6": "P8"}.get(n, n) for n in OLD_NAMES], "zero")
    assert modern.report.as_dict()["T5"] == "zero"  # P7 is not T5 either


def test_scale_row_uses_the_tueg_limits_and_the_range_includes_zero():
    # configs/pretraining.yml:45-46 (TUEG, µV); instance.py:356 (SCALE), :360-366 (min-max over
    # the Deep1010 EEG rows, whose unused rows are zeros).
    scaling = get_model_card("bendr").scaling
    x = np.random.default_rng(0).normal(0, 30, (2, 19, 512))
    x[1] += 500.0  # a window far from zero: 0 widens its min-max range
    assert scaling.fit(x) == {}
    out = scaling.apply(x, {})
    ptp = x.max(axis=(1, 2)) - x.min(axis=(1, 2))
    np.testing.assert_allclose(out[:, 19, 0], 2 * (np.minimum(ptp / 4860.6258304722666, 1) - 0.5), rtol=1e-6)
    np.testing.assert_allclose(out[1, :19], 2 * x[1] / x[1].max() - 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0, :19].min(), -1, atol=1e-6)
