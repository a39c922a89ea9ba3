"""BIOT's original release layout (ycq091044/BIOT ``pretrained-models/*.ckpt``) -> braindecode keys."""

from __future__ import annotations

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, strip_prefix, unwrap

_BIOT_SIGNATURE = ("patch_embedding.projection.weight", "channel_tokens.weight")


def _biot_backbone(obj):
    # Lightning wraps as {'state_dict': {'model.biot.*', ...}}.
    sd = unwrap(obj, ("state_dict",))
    if not is_tensor_dict(sd):
        return None
    sd = strip_prefix(sd, "module.")
    sd = strip_prefix(sd, "model.")
    out = {}
    for key, value in sd.items():
        if key.startswith("biot."):  # a fine-tuned BIOTClassifier
            key = key[len("biot."):]
        out[key] = value
    return out if all(s in out for s in _BIOT_SIGNATURE) else None


def _biot_matches(obj) -> bool:
    return _biot_backbone(obj) is not None


def _biot_convert(obj):
    sd = _biot_backbone(obj)
    if sd is None:
        raise WeightsError("Not a BIOT original checkpoint (no patch_embedding/channel_tokens).")
    out = {}
    for key, value in sd.items():
        if key == "index" or key.startswith(("prediction.", "classifier_")):
            continue  # a buffer rebuilt at init; pretraining heads
        if key.startswith("classifier.clshead.1."):
            out["final_layer.classification_head." + key.rsplit(".", 1)[1]] = value
        else:
            out["encoder." + key] = value
    return out


FORMAT = WeightFormat("biot-original", _biot_matches, _biot_convert)
