"""The weights report lists every tensor a converter left out, with the reason."""

from __future__ import annotations

import torch
from test_card_labram import labram_original

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import load_into_module, resolve_weights
from eegfm_sklearn.weights.formats import Converted, audit_dropped

from conftest import build

EEGPT = get_model_card("eegpt")
NAMES = ["FP1", "FZ", "CZ", "PZ", "O1"]


def _eegpt(seed):
    torch.manual_seed(seed)
    return EEGPT.build_module(len(NAMES), 256, 2, model_kwargs=dict(EEGPT.tiny_kwargs), slots=NAMES).eval()


def test_eegpt_release_report_lists_teacher_predictor_reconstructor_and_training_state(tmp_path):
    target = {f"target_encoder.{k}": v for k, v in _eegpt(0).target_encoder.state_dict().items()}
    online = {"encoder." + k[len("target_encoder."):]: v.clone() for k, v in target.items()}
    pretraining = {"predictor.mask_token": torch.zeros(1, 1, 32), "predictor.time_embed.freqs": torch.ones(4),
                   "reconstructor.reconstructor_proj.weight": torch.randn(64, 32)}
    moments = {0: {"exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}}
    path = tmp_path / "eegpt.ckpt"
    torch.save({"state_dict": {**target, **online, **pretraining}, "epoch": 3,
                "optimizer_states": [{"state": moments, "param_groups": []}]}, path)

    report = load_into_module(_eegpt(1), resolve_weights(path, EEGPT))

    dropped = dict(entry[:-1].split(" (", 1) for entry in report.dropped)
    assert len(report.loaded) == len(target)
    assert set(dropped) == ({f"state_dict.{k}" for k in [*online, *pretraining]}
                            | {"optimizer_states.0.state.0.exp_avg", "optimizer_states.0.state.0.exp_avg_sq"})
    assert dropped["state_dict.predictor.mask_token"].startswith("pretraining predictor")
    assert dropped["state_dict.reconstructor.reconstructor_proj.weight"].startswith("pretraining reconstructor")
    assert "target_encoder" in dropped["state_dict.encoder.summary_token"]
    assert dropped["optimizer_states.0.state.0.exp_avg"].startswith("training state")
    text = str(report)
    assert f"dropped by the converter: {len(dropped)} tensors" in text
    assert f"{len(online)} online (student) encoder" in text and "2 pretraining predictor" in text


def test_tensors_a_converter_drops_without_saying_are_listed_anyway(tmp_path):
    # LaBraM's converter skips lm_head / mask_token / relative_position_index by pattern,
    # declaring nothing: the audit still lists each of them.
    sd = build("labram", 4, 800).state_dict()
    original = labram_original(sd)
    path = tmp_path / "labram-base.pth"
    torch.save({"model": original, "epoch": 1}, path)
    resolved = resolve_weights(path, get_model_card("labram"))
    pretraining_only = ("lm_head", "mask_token", "relative_position_index", "projection_head", "logit_scale")
    silent = {f"model.{k}" for k in original if any(p in k for p in pretraining_only)}
    assert {"model.student.lm_head.weight", "model.student.mask_token"} <= silent
    assert set(resolved.dropped) == silent
    assert set(resolved.dropped.values()) == {"not used by the converter"}


def test_audit_keeps_declared_reasons_and_merges():
    a, b, c = torch.ones(2), torch.zeros(2), torch.full((2,), 3.0)
    out = audit_dropped({"x": a, "y": {"lora": b}, "z": c},
                        Converted({"w": a.view(1, 2)}, dropped={"z": "head"}, merged={"y.lora": "w"}))
    assert out.dropped == {"z": "head"} and out.merged == {"y.lora": "w"}
    assert audit_dropped({"x": a, "z": c}, {"w": a}).dropped == {"z": "not used by the converter"}
