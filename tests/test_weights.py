"""Weights subsystem: original layouts, verification, safety, save/load.

Fixtures are written here from a braindecode model's own ``state_dict()``
with the mapping of /work/shared/specs/checkpoints.md applied in reverse
(plus the extra keys the authors' files carry); nothing is downloaded.
Tiny architectures: these tests are about plumbing (full sizes live in
test_weights_full.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import re
from pathlib import Path

import pytest
import torch

from eegfm_sklearn.cards import Checkpoint, get_model_card
from eegfm_sklearn.weights import (
    UnsafeCheckpointError,
    WeightsError,
    WeightsReport,
    load_into_module,
    originals_dir,
    resolve_weights,
    save_weights_dir,
    sha256_file,
)

LABRAM_CH = ["FP1", "FZ", "CZ", "O1"]


# ------------------------------------------------------------- builders
def build(model, n_chans, n_times, n_outputs=3, seed=0, card=None):
    card = card or get_model_card(model)
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs, dict(card.tiny_kwargs)).eval()


def is_head(card, key):
    return key.startswith(tuple(card.head_prefixes))


def biot_original(sd):
    """braindecode BIOT -> authors' BIOTEncoder state dict (+ ``index``)."""
    out = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    out["index"] = torch.arange(out["channel_tokens.weight"].shape[0])
    return out


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


def by_hand(model, n_chans, n_times, state, card=None, tweak=None):
    """A fresh module given ``state`` with load_state_dict(strict=True)."""
    module = build(model, n_chans, n_times, seed=123, card=card)
    if tweak is not None:
        tweak(module)
    module.load_state_dict(state, strict=True)
    return module.eval()


def assert_loaded(card, module, ref_sd, report, adapt=None):
    """Every backbone tensor equals the source; the head is untouched/initialised."""
    got = module.state_dict()
    backbone = [k for k in got if not is_head(card, k)]
    assert set(report.loaded) == set(backbone)
    assert set(report.initialised) == {k for k in got if is_head(card, k)}
    for key in backbone:
        want = adapt(key, ref_sd[key]) if adapt else ref_sd[key]
        assert torch.equal(got[key], want), key


def max_diff(a, b):
    return float((a - b).abs().max())


# ------------------------------------------------------------------ BIOT
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


def test_keep_head_uses_checkpoint_head_only_when_shapes_match(tmp_path):
    card = get_model_card("biot")
    sd = build("biot", 16, 400).state_dict()
    obj = {"biot." + k: v for k, v in biot_original(sd).items()}
    head_w, head_b = torch.randn(3, 32), torch.randn(3)
    obj.update({"classifier.clshead.1.weight": head_w, "classifier.clshead.1.bias": head_b})
    path = tmp_path / "finetuned.pt"
    torch.save(obj, path)
    resolved = resolve_weights(path, card)

    module = build("biot", 16, 400, n_outputs=3, seed=5)
    report = load_into_module(module, resolved, keep_head=True)
    assert report.initialised == ()
    assert torch.equal(module.final_layer.classification_head.weight, head_w)
    assert torch.equal(module.final_layer.classification_head.bias, head_b)

    fresh = build("biot", 16, 400, n_outputs=3, seed=5)
    report = load_into_module(fresh, resolved)  # default: head re-initialised
    assert not torch.equal(fresh.final_layer.classification_head.weight, head_w)
    assert set(report.initialised) == {
        "final_layer.classification_head.weight",
        "final_layer.classification_head.bias",
    }

    with pytest.raises(WeightsError, match=r"keep_head=True.*\(3, 32\).*\(2, 32\)"):
        load_into_module(build("biot", 16, 400, n_outputs=2), resolved, keep_head=True)


def test_wrong_channel_count_names_key_and_both_shapes(tmp_path):
    card = get_model_card("biot")
    path = tmp_path / "eighteen.ckpt"
    torch.save(biot_original(build("biot", 18, 400).state_dict()), path)
    with pytest.raises(WeightsError) as err:
        load_into_module(build("biot", 16, 400), resolve_weights(path, card))
    assert "encoder.channel_tokens.weight: checkpoint (18, 32) vs model (16, 32)" in str(err.value)


def test_missing_backbone_tensor_is_refused(tmp_path):
    card = get_model_card("biot")
    orig = biot_original(build("biot", 16, 400).state_dict())
    del orig["transformer.layers.layers.0.1.norm.bias"]
    path = tmp_path / "partial.ckpt"
    torch.save(orig, path)
    missing = r"missing from the checkpoint \(1\): encoder\.transformer\.layers\.layers\.0\.1\.norm\.bias"
    with pytest.raises(WeightsError, match=missing):
        load_into_module(build("biot", 16, 400), resolve_weights(path, card))


def test_unexpected_backbone_tensor_is_refused(tmp_path):
    card = get_model_card("biot")
    orig = biot_original(build("biot", 16, 400).state_dict())
    orig["transformer.layers.layers.9.extra.weight"] = torch.zeros(2)
    path = tmp_path / "extra.ckpt"
    torch.save(orig, path)
    unexpected = r"not in the model \(1\): encoder\.transformer\.layers\.layers\.9"
    with pytest.raises(WeightsError, match=unexpected):
        load_into_module(build("biot", 16, 400), resolve_weights(path, card))


def test_checkpoint_of_another_model_is_refused(tmp_path):
    biot = get_model_card("biot")
    # LaBraM's original wrapper: no BIOT layout recognises it.
    path = labram_file(build("labram", 4, 800).state_dict(), tmp_path / "labram-base.pth")
    with pytest.raises(WeightsError, match=r"none of the layouts 'biot' accepts.*another model"):
        resolve_weights(path, biot)
    # A braindecode-layout file of another model: caught by verification.
    other = tmp_path / "labram_dir"
    save_weights_dir(build("labram", 4, 800), other, {"n_chans": 4})
    with pytest.raises(WeightsError, match="None of the backbone tensors was found"):
        load_into_module(build("biot", 16, 400), resolve_weights(other, biot))


# ---------------------------------------------------------------- LaBraM
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


# ----------------------------------------------------------------- BENDR
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


# -------------------------------------------------------------- registry
def test_registry_original_placed_by_hand(tmp_path):
    card = get_model_card("biot")
    ckpt = card.get_checkpoint("biot-shhs-prest-18-original")
    with pytest.raises(WeightsError) as err:
        resolve_weights("biot-shhs-prest-18-original", card, cache_dir=tmp_path)
    msg = str(err.value)
    assert "EEG-SHHS+PREST-18-channels.ckpt" in msg and ckpt.url in msg
    assert str(originals_dir(tmp_path) / ckpt.name) in msg

    folder = originals_dir(tmp_path) / ckpt.name
    folder.mkdir(parents=True)
    sd = build("biot", 18, 400).state_dict()
    lightning = {"state_dict": {"model.biot." + k: v for k, v in biot_original(sd).items()}}
    torch.save(lightning, folder / ckpt.filenames[0])
    resolved = resolve_weights("biot-shhs-prest-18-original", card, cache_dir=tmp_path)
    assert resolved.source == "biot-shhs-prest-18-original"
    n_chans = len(resolved.card.channels.slots())  # the contract fixes the montage
    assert n_chans == 18
    module = build("biot", n_chans, 400, card=resolved.card)
    assert_loaded(card, module, sd, load_into_module(module, resolved))


def test_release_file_name_carries_its_contract(tmp_path):
    card = get_model_card("biot")
    path = tmp_path / "EEG-six-datasets-18-channels.ckpt"
    torch.save(biot_original(build("biot", 18, 400).state_dict()), path)
    resolved = resolve_weights(path, card)
    assert resolved.checkpoint.name == "biot-six-datasets-18-original"
    assert len(resolved.card.channels.slots()) == 18


def test_sha256_mismatch_is_refused(tmp_path):
    card = get_model_card("biot")
    ckpt = Checkpoint(
        name="pinned", source="original", filenames=("w.ckpt",), fmt="biot-original",
        sha256={"w.ckpt": "0" * 64},
    )
    card = dataclasses.replace(card, checkpoints=(ckpt,))
    folder = originals_dir(tmp_path) / "pinned"
    folder.mkdir(parents=True)
    torch.save(biot_original(build("biot", 16, 400).state_dict()), folder / "w.ckpt")
    with pytest.raises(WeightsError, match=r"SHA-256 mismatch .*registry expects 0{64}"):
        resolve_weights("pinned", card, cache_dir=tmp_path)
    # A path of the user's own file takes the release's contract, not its hash.
    assert resolve_weights(folder / "w.ckpt", card).checkpoint.name == "pinned"
    good = sha256_file(folder / "w.ckpt")
    card = dataclasses.replace(card, checkpoints=(dataclasses.replace(ckpt, sha256={"w.ckpt": good}),))
    assert resolve_weights("pinned", card, cache_dir=tmp_path).files[str(folder / "w.ckpt")] == good


def test_unknown_name_lists_known_and_points_to_other_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hint = r"known: \['biot-prest-16'.*'labram-base' is a checkpoint of model 'labram'"
    with pytest.raises(WeightsError, match=hint):
        resolve_weights("labram-base", get_model_card("biot"))


def test_every_registered_checkpoint_has_a_consistent_contract():
    from eegfm_sklearn.cards import list_models
    from eegfm_sklearn.weights import effective_card, formats_for

    for model in list_models():
        card = get_model_card(model)
        assert card.checkpoints, model
        for ckpt in card.checkpoints:
            assert ckpt.fmt in {f.name for f in formats_for(card)}
            assert ckpt.filenames and (ckpt.source == "original") == (ckpt.repo_id is None)
            eff = effective_card(card, ckpt)
            assert eff.post_build is None or callable(eff.post_build)
            if model == "biot":  # channel count follows from the montage in the name
                assert len(eff.channels.slots()) == int(re.search(r"(16|18)", ckpt.name).group(1))


# ------------------------------------------------------------ save/load
def test_save_weights_dir_round_trip(tmp_path):
    card = get_model_card("labram")
    ref = build("labram", 4, 800, seed=0)
    config = {"n_chans": 4, "n_times": 800, "n_outputs": 3, "model": "labram"}
    save_weights_dir(ref, tmp_path / "out", config)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "model.safetensors"]
    resolved = resolve_weights(tmp_path / "out", card)
    assert resolved.fmt == "braindecode" and resolved.config == config
    module = build("labram", 4, 800, seed=9)
    report = load_into_module(module, resolved, keep_head=True)
    for key, value in ref.state_dict().items():
        assert torch.equal(module.state_dict()[key], value), key
    x = torch.randn(1, 4, 800)
    with torch.no_grad():
        assert torch.equal(module(x, ch_names=LABRAM_CH), ref(x, ch_names=LABRAM_CH))
    text = str(report)
    assert str(tmp_path / "out") in text and report.files[str(tmp_path / "out" / "model.safetensors")] in text
    assert isinstance(report, WeightsReport)


def test_non_persistent_buffer_from_older_files_is_ignored(tmp_path):
    card = get_model_card("biot")
    ref = build("biot", 16, 400)
    sd = dict(ref.state_dict())
    sd["encoder.index"] = torch.arange(16)  # persistent before braindecode 1.8.1
    torch.save(sd, tmp_path / "pytorch_model.bin")
    report = load_into_module(build("biot", 16, 400, seed=2), resolve_weights(tmp_path, card))
    assert any(s.startswith("encoder.index (non-persistent") for s in report.ignored)


# ---------------------------------------------------------------- safety
class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("writer", ["torch-zip", "raw-pickle"])
def test_pickle_with_code_payload_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "PAYLOAD_RAN"
    sd = build("labram", 4, 800).state_dict()
    obj = {"model": labram_original(sd), "args": _Payload(marker)}
    path = tmp_path / "labram-base.pth"
    if writer == "torch-zip":
        torch.save(obj, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    with pytest.raises(UnsafeCheckpointError, match="could run arbitrary code") as err:
        resolve_weights(path, get_model_card("labram"))
    if writer == "torch-zip":
        assert "pathlib" in str(err.value)  # names what it refused
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["safetensors", "torch-zip", "torch-legacy"])
def test_truncated_file_is_refused(tmp_path, kind):
    module = build("biot", 16, 400)
    if kind == "safetensors":
        save_weights_dir(module, tmp_path, {})
        path = tmp_path / "model.safetensors"
    else:
        path = tmp_path / "pytorch_model.bin"
        torch.save(module.state_dict(), path, _use_new_zipfile_serialization=kind == "torch-zip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        resolve_weights(path, get_model_card("biot"))


def test_weights_package_never_imports_sklearn():
    import eegfm_sklearn.weights as pkg

    for source in Path(pkg.__file__).parent.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+sklearn", source.read_text(), re.M), source
