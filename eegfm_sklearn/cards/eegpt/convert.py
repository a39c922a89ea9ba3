"""EEGPT's original release (BINE022/EEGPT ``eegpt_mcae_58chs_4s_large4E.ckpt``) -> braindecode keys.

The authors' file is a PyTorch Lightning checkpoint of their masked
auto-encoder (``pretrain/engine_pretraining.py``): ``{"state_dict":
{"encoder.*", "target_encoder.*", "predictor.*", "reconstructor.*"},
"optimizer_states", "lr_schedulers", "epoch", ...}``. Their downstream code
keeps the EMA ``target_encoder`` (``downstream/linear_probe_EEGPT_*.py``);
braindecode's EEGPT names it the same and keeps its submodule names, so
those tensors are kept as they are and every other one is listed as dropped.
The scheduler state pickles a bound method; the safe reader leaves it as an
inert placeholder (``weights/safe.py``).
"""

from __future__ import annotations

from ...weights.errors import WeightsError
from ...weights.formats import Converted, WeightFormat, is_tensor_dict, strip_prefix, tensor_paths, unwrap

_ENCODER = "target_encoder."
_REASONS = {
    "encoder.": "online (student) encoder of pretraining; downstream code uses the EMA target_encoder",
    "predictor.": "pretraining predictor, not part of the encoder",
    "reconstructor.": "pretraining reconstructor, not part of the encoder",
}
_PRETRAINING_ONLY = tuple(_REASONS)


def _state(obj):
    sd = unwrap(obj, ("state_dict",))
    if not is_tensor_dict(sd):
        return None
    sd = strip_prefix(sd, "module.")
    # The pretraining file holds the online encoder and the predictor beside
    # the target encoder; braindecode's own layout has neither.
    if not any(k.startswith(_ENCODER) for k in sd) or not any(k.startswith(_PRETRAINING_ONLY) for k in sd):
        return None
    return sd


def _matches(obj) -> bool:
    return _state(obj) is not None


def _convert(obj):
    sd = _state(obj)
    if sd is None:
        raise WeightsError("Not an EEGPT pretraining checkpoint (no target_encoder.* beside encoder/predictor).")
    kept = {k: v for k, v in sd.items() if k.startswith(_ENCODER)}
    kept_ids = {id(v) for v in kept.values()}
    dropped = {}
    for path, tensor in tensor_paths(obj):
        if id(tensor) in kept_ids:
            continue
        inner = path.split(".", 1)[1] if path.startswith("state_dict.") else None
        if inner is not None:
            inner = inner.removeprefix("module.")
            reason = next((r for p, r in _REASONS.items() if inner.startswith(p)), "not part of the target encoder")
        else:
            reason = "training state (optimizer, scheduler, callbacks), not weights"
        dropped[path] = reason
    return Converted(kept, dropped=dropped)


FORMAT = WeightFormat("eegpt-original", _matches, _convert)
