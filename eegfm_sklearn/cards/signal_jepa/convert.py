"""The pretraining checkpoint, read by the downstream variants.

``braindecode/signal-jepa`` and ``braindecode/signal-jepa_without-chans`` hold
the whole self-supervised model: the convolutional feature encoder
(``feature_encoder.*``), the channel table (``pos_encoder.*``) and the
``nn.Transformer`` (``transformer.*``): its encoder, and its decoder, the
JEPA predictor, which no forward of the four classes calls. braindecode
loads the variants with ``strict=False``; here each layout drops by name
exactly the parts a variant has no slot for, so every tensor it does have
must still be in the file.
"""

from __future__ import annotations

from ...weights.formats import WeightFormat, is_tensor_dict, strip_prefix

# The JEPA predictor: pretraining only (the cards build the modules without it).
PREDICTOR_PREFIXES = ("transformer.decoder.",)
# The context encoder and channel table: absent from the pre-/post-local variants.
CONTEXT_PREFIXES = ("pos_encoder.", "transformer.")


def _state(obj):
    return strip_prefix(obj, "module.") if is_tensor_dict(obj) else None


def _matches(obj) -> bool:
    sd = _state(obj)
    return sd is not None and any(k.startswith("feature_encoder.") for k in sd)


def _without(obj, prefixes):
    return {k: v for k, v in _state(obj).items() if not k.startswith(prefixes)}


def _encoder(obj):
    return _without(obj, PREDICTOR_PREFIXES)


def _local(obj):
    return _without(obj, CONTEXT_PREFIXES)


# SignalJEPA and SignalJEPA_Contextual: everything but the predictor.
ENCODER_FORMAT = WeightFormat("signal-jepa-encoder", _matches, _encoder)
# SignalJEPA_PreLocal / _PostLocal: the feature encoder only.
LOCAL_FORMAT = WeightFormat("signal-jepa-local", _matches, _local)
