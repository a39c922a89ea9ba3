"""Weights subsystem: resolution, verification, safety, save/load.

Generic behaviour, shown on real card layouts (BIOT's and LaBraM's authors'
releases, written by the fixture builders of test_card_biot.py and
test_card_labram.py); nothing is downloaded. Tiny architectures: these
tests are about plumbing (each card's full-size release is tested in its
test_card_<model>.py and in test_cards.py).
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import pytest
import torch
from test_card_biot import biot_original
from test_card_labram import labram_file, labram_original

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

from conftest import assert_loaded, build

LABRAM_CH = ["FP1", "FZ", "CZ", "O1"]


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
    # (a longer channel-token table is cut to the model's, BIOT's truncatable; a shorter one cannot grow)
    path = tmp_path / "sixteen.ckpt"
    torch.save(biot_original(build("biot", 16, 400).state_dict()), path)
    with pytest.raises(WeightsError) as err:
        load_into_module(build("biot", 18, 400), resolve_weights(path, card))
    assert "encoder.channel_tokens.weight: checkpoint (16, 32) vs model (18, 32)" in str(err.value)

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
    n_chans = len(resolved.card.channels.slots())  # the 16 pairs, as the authors fine-tune it
    assert n_chans == 16
    module = build("biot", n_chans, 400, card=resolved.card)
    assert_loaded(card, module, sd, load_into_module(module, resolved),
                  adapt=lambda key, value: value[:16] if key == "encoder.channel_tokens.weight" else value)

def test_release_file_name_carries_its_contract(tmp_path):
    card = get_model_card("biot")
    path = tmp_path / "EEG-six-datasets-18-channels.ckpt"
    torch.save(biot_original(build("biot", 18, 400).state_dict()), path)
    resolved = resolve_weights(path, card)
    assert resolved.checkpoint.name == "biot-six-datasets-18-original"
    assert len(resolved.card.channels.slots()) == 16 and resolved.checkpoint.input_shape == (18, 2000)

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

def test_pickle_with_code_payload_never_runs(tmp_path, writer):
    marker = tmp_path / "PAYLOAD_RAN"
    sd = build("labram", 4, 800).state_dict()
    obj = {"model": labram_original(sd), "args": _Payload(marker)}
    path = tmp_path / "labram-base.pth"
    if writer == "torch-zip":
        torch.save(obj, path)
        # The tensors load; the payload is an inert record, named in the report.
        resolved = resolve_weights(path, get_model_card("labram"))
        assert any(n.startswith("pathlib.") for n in resolved.inert) and resolved.state_dict
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f)
        # A plain pickle's tensors would need code to rebuild: refused.
        with pytest.raises(UnsafeCheckpointError, match="could run arbitrary code"):
            resolve_weights(path, get_model_card("labram"))
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


def test_paths_that_cannot_be_opened_say_why(tmp_path):
    """A symbolic link loop says loop; a torch checkpoint renamed .safetensors says so."""
    import torch

    from eegfm_sklearn import get_model_card
    from eegfm_sklearn.weights import WeightsError, resolve_weights

    card = get_model_card("biot")
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)
    with pytest.raises(WeightsError, match="symbolic link loop"):
        resolve_weights(str(loop), card)
    dangling = tmp_path / "dangling.pt"
    dangling.symlink_to(tmp_path / "gone.pt")
    with pytest.raises(WeightsError, match="symbolic link to .*gone.pt.*which does not exist"):
        resolve_weights(str(dangling), card)
    renamed = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, renamed)
    with pytest.raises(WeightsError, match=r"is a torch checkpoint \(zip\), not safetensors.*rename it to 'model.pt'"):
        resolve_weights(str(renamed), card)
