"""MVPFormer's original release (IBM/multi-variate-parallel-transformer ``genie-{s,m}-*.pt``) -> braindecode keys.

The authors' files are state dicts of their ``HMVPFormer`` (``models/mvpformer.py`` L405-484):
``mvpformer.*`` (the transformer, ``h.<i>`` blocks), ``encoder.{ln,proj}.weight`` (the wavelet
tokeniser), ``seizure_embeddings`` and ``head.head.*``. Every config of theirs sets
``lora=True``: ``q_attn`` is a loralib ``Linear`` and ``c_attn`` a ``MergedLinear`` whose LoRA
acts on the value rows only (``enable_lora=[False, True]``, ``layers/mvpa.py`` L43-62), with
``lora_alpha=16`` (``MVPFormerConfig`` L69). Saved in training mode, the factors are unmerged:
their forward adds ``(alpha / r) * B @ A`` to those weights, so the converter merges them.
"""

from __future__ import annotations

import re

from ...weights.errors import WeightsError
from ...weights.formats import (
    Converted,
    WeightFormat,
    is_tensor_dict,
    strip_prefix,
    unwrap,
)

LORA_ALPHA = 16.0  # MVPFormerConfig default; no config of theirs overrides it
_RENAMES = ((re.compile(r"^mvpformer\.h\.(\d+)\."), r"blocks.\1."), (re.compile(r"^mvpformer\."), ""),
            (re.compile(r"^encoder\."), "patch_embed."))
_DROPPED = (
    (re.compile(r"\.ln_2\.weight$"), ("unused: the authors' block normalises once (ln_1) for attention and MLP "
                                      "(models/mvpformer.py L132-147)")),
    (re.compile(r"\.attn\.(time_bias|masked_bias)$"), "constant attention-mask buffer, rebuilt by the module"),
    (re.compile(r"^seizure_embeddings$"), "seizure-task embeddings of HMVPFormer, not part of the encoder"),
    (re.compile(r"^head\."), "the authors' task head; the estimator trains its own"),
)


def _tensors(obj):
    sd = unwrap(obj, ("state_dict", "model"))
    return strip_prefix(sd, "module.") if is_tensor_dict(sd) else None


def _state(obj):
    sd = _tensors(obj)
    if sd is None or "encoder.proj.weight" not in sd or not any(k.startswith("mvpformer.h.") for k in sd):
        return None
    return sd


def _task_only(obj):
    # A fine-tuning file their classification loader applies over the base (models/mvpformer.py
    # L845-895): LoRA factors and head, no backbone.
    sd = _tensors(obj)
    return sd is not None and "encoder.proj.weight" not in sd and any(".lora_" in k for k in sd)


def _matches(obj) -> bool:
    return _state(obj) is not None or _task_only(obj)


def _renamed(key):
    for pattern, repl in _RENAMES:
        key = pattern.sub(repl, key, count=1)
    return key


def _merged(sd, key, rows, merged):
    """``key``'s weight plus its LoRA update on ``rows`` (a slice of output rows)."""
    base = key[: -len(".weight")]
    a, b = sd.get(f"{base}.lora_A"), sd.get(f"{base}.lora_B")
    weight = sd[key]
    if a is None and b is None:
        return weight
    if a is None or b is None:
        raise WeightsError(f"{base} has only one LoRA factor (lora_A and lora_B come in pairs).")
    weight = weight.clone()
    weight[rows] += (LORA_ALPHA / a.shape[0]) * (b @ a)
    merged.update({name: _renamed(key) for name in (key, f"{base}.lora_A", f"{base}.lora_B")})
    return weight


def _convert(obj):
    if _task_only(obj):
        raise WeightsError(
            "This MVPFormer file holds only fine-tuning tensors (LoRA factors and head, e.g. genie-*-swec.pt), "
            "which the authors' loader applies over the base model. Merge it over its base once: "
            "state = torch.load('genie-s-base.pt', weights_only=True); "
            "state.update(torch.load('genie-s-swec.pt', weights_only=True)); "
            "torch.save(state, 'genie-s-swec-full.pt'); "
            "then pass that file.")
    sd = _state(obj)
    if sd is None:
        raise WeightsError("Not an MVPFormer release (no mvpformer.h.* beside encoder.proj.weight).")
    prefix = "state_dict." if sd is not obj and "state_dict" in obj else ""
    out, dropped, merged = {}, {}, {}
    for key, value in sd.items():
        reason = next((why for pattern, why in _DROPPED if pattern.search(key)), None)
        if reason is not None:
            dropped[prefix + key] = reason
            continue
        if ".lora_" in key:
            continue  # merged into its weight below
        if key.endswith(".attn.q_attn.weight"):
            value = _merged(sd, key, slice(None), merged)
        elif key.endswith(".attn.c_attn.weight"):
            # MergedLinear(enable_lora=[False, True]): keys then values; LoRA on the values.
            value = _merged(sd, key, slice(value.shape[0] // 2, None), merged)
        out[_renamed(key)] = value
    leftover = [k for k in sd if ".lora_" in k and k not in merged]
    if leftover:
        raise WeightsError(f"LoRA factors on layers the converter does not merge: {leftover[:6]}.")
    return Converted(out, dropped=dropped, merged={prefix + k: v for k, v in merged.items()})


FORMAT = WeightFormat("mvpformer-original", _matches, _convert)
