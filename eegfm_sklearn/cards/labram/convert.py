"""LaBraM's original release layout (935963004/LaBraM ``labram-base.pth``) -> braindecode keys."""

from __future__ import annotations

import re

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, strip_prefix, unwrap

_LABRAM_DROP = re.compile(
    r"^(mask_token|logit_scale|lm_head\..*|projection_head\..*|.*relative_position_index)$"
)
_LABRAM_RENAMES = (
    (re.compile(r"^pos_embed$"), "position_embedding"),
    (re.compile(r"^time_embed$"), "temporal_embedding"),
    (re.compile(r"^patch_embed\."), "patch_embed.temporal_conv."),
    (re.compile(r"\.mlp\.fc1\."), ".mlp.0."),
    (re.compile(r"\.mlp\.fc2\."), ".mlp.2."),
    (re.compile(r"^head\."), "final_layer."),
)


def _labram_state(obj):
    # {'model': sd, 'optimizer', 'epoch', 'args': Namespace}; 'module' too.
    sd = unwrap(obj, ("model", "module"))
    if not is_tensor_dict(sd):
        return None
    sd = strip_prefix(sd, "module.")
    if any(k.startswith("student.") for k in sd):
        # Pretraining checkpoint: the student is the encoder.
        sd = {k[len("student."):]: v for k, v in sd.items() if k.startswith("student.")}
    return sd if "patch_embed.conv1.weight" in sd else None


def _labram_matches(obj) -> bool:
    return _labram_state(obj) is not None


def _labram_convert(obj):
    sd = _labram_state(obj)
    if sd is None:
        raise WeightsError("Not a LaBraM original checkpoint (no patch_embed.conv1).")
    out = {}
    for key, value in sd.items():
        if _LABRAM_DROP.match(key):
            continue
        for pattern, repl in _LABRAM_RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value
    # time_embed has 16 rows; it is cut to the module's rows on load
    # (the card's ``truncatable``).
    return out


FORMAT = WeightFormat("labram-original", _labram_matches, _labram_convert)
