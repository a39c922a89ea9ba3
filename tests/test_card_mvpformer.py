"""MVPFormer's card: the authors' genie-*.pt layout, LoRA merged, drops listed, local files only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import WeightsError, load_into_module, resolve_weights

CARD = get_model_card("mvpformer")
FIXTURE = Path(__file__).parent / "parity" / "mvpformer"


def _fixture():
    meta = json.loads((FIXTURE / "meta.json").read_text())
    return FIXTURE / meta["checkpoint"], meta["estimator_kwargs"]["model_kwargs"]


def test_lora_factors_are_merged_into_q_and_value_rows():
    path, _ = _fixture()
    raw = torch.load(path, weights_only=True)
    resolved = resolve_weights(path, CARD)
    sd = resolved.state_dict
    a, b = raw["mvpformer.h.0.attn.q_attn.lora_A"], raw["mvpformer.h.0.attn.q_attn.lora_B"]
    scale = 16.0 / a.shape[0]
    torch.testing.assert_close(sd["blocks.0.attn.q_attn.weight"],
                               raw["mvpformer.h.0.attn.q_attn.weight"] + scale * b @ a)
    w = raw["mvpformer.h.0.attn.c_attn.weight"]
    a, b = raw["mvpformer.h.0.attn.c_attn.lora_A"], raw["mvpformer.h.0.attn.c_attn.lora_B"]
    half = w.shape[0] // 2
    torch.testing.assert_close(sd["blocks.0.attn.c_attn.weight"][:half], w[:half])  # keys: no LoRA
    torch.testing.assert_close(sd["blocks.0.attn.c_attn.weight"][half:], w[half:] + scale * b @ a)
    assert not torch.allclose(b, torch.zeros_like(b))
    assert "mvpformer.h.0.attn.c_attn.lora_B" in resolved.merged
    assert sd["patch_embed.proj.weight"] is not None and "encoder.proj.weight" not in sd


def test_every_dropped_tensor_is_listed_with_its_reason():
    path, kwargs = _fixture()
    resolved = resolve_weights(path, CARD)
    module = CARD.build_module(19, 2560, 2, model_kwargs=kwargs)
    report = load_into_module(module, resolved)
    dropped = dict(entry[:-1].split(" (", 1) for entry in report.dropped)
    raw = torch.load(path, weights_only=True)
    expected = {k for k in raw if ".ln_2." in k or k.endswith(("time_bias", "masked_bias"))
                or k == "seizure_embeddings" or k.startswith("head.")}
    assert set(dropped) == expected
    assert dropped["seizure_embeddings"].startswith("seizure-task") and "ln_1" in dropped["mvpformer.h.1.ln_2.weight"]
    n_lora = sum(".lora_" in k for k in raw)
    assert len(report.loaded) + len(expected) + n_lora == len(raw)
    # Each factor and the weight it was folded into: listed as merged into the converted key.
    assert sum("merged into" in entry for entry in report.adapted) == n_lora * 3 // 2
    assert "mvpformer.h.0.attn.c_attn.lora_A merged into blocks.0.attn.c_attn.weight" in report.adapted


def test_checkpoints_are_local_files_with_a_clear_message(tmp_path):
    assert {c.name for c in CARD.checkpoints} == {"mvpformer-s-base", "mvpformer-m-base"}
    assert all(c.source == "original" and c.repo_id is None for c in CARD.checkpoints)
    with pytest.raises(WeightsError, match="not downloaded automatically") as err:
        resolve_weights("mvpformer-s-base", CARD, cache_dir=tmp_path)
    message = str(err.value)
    assert "genie-s-base.pt" in message and "ibm.box.com" in message and "no copy on the Hugging Face Hub" in message
    assert CARD.for_checkpoint(CARD.get_checkpoint("mvpformer-m-base")).build_kwargs["d_model"] == 2048


def test_a_fine_tuning_only_file_says_how_to_merge_it_over_its_base(tmp_path):
    path, kwargs = _fixture()
    raw = torch.load(path, weights_only=True)
    task = {k: v for k, v in raw.items() if ".lora_" in k or k.startswith("head.")}
    torch.save(task, tmp_path / "genie-s-swec.pt")
    with pytest.raises(WeightsError, match="only fine-tuning tensors.*Merge it over its base"):
        resolve_weights(tmp_path / "genie-s-swec.pt", CARD)
    # Merged as the message says, it loads, LoRA folded in.
    torch.save({**raw, **task}, tmp_path / "merged.pt")
    report = load_into_module(CARD.build_module(19, 2560, 2, model_kwargs=kwargs),
                              resolve_weights(tmp_path / "merged.pt", CARD))
    assert any("lora_B merged into" in entry for entry in report.adapted)
