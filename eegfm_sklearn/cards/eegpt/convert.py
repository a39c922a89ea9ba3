"""EEGPT's original release (BINE022/EEGPT ``eegpt_mcae_58chs_4s_large4E.ckpt``) -> braindecode keys.

The authors' file is a PyTorch Lightning checkpoint of their masked
auto-encoder: ``{"state_dict": {"encoder.*", "target_encoder.*",
"predictor.*", "reconstructor.*", ...}, "epoch", ...}``. Their downstream
code keeps the EMA ``target_encoder``; braindecode's EEGPT names it the same
and keeps its submodule names, so the tensors are kept as they are.
"""

from __future__ import annotations

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, strip_prefix, unwrap

_ENCODER = "target_encoder."
_PRETRAINING_ONLY = ("encoder.", "predictor.", "reconstructor.")


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
    return {k: v for k, v in sd.items() if k.startswith(_ENCODER)}


FORMAT = WeightFormat("eegpt-original", _matches, _convert)
