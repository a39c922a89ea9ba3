"""ZUNA's release (Hugging Face ``Zyphra/ZUNA1.1``, ``model-00001-of-00001.safetensors``) -> braindecode keys.

The file holds the authors' whole diffusion autoencoder (``EncoderDecoder``, zuna package
``inference/AY2l/lingua/apps/AY2latent_bci/transformer.py``) under ``model.``: ``model.encoder.*``
and ``model.decoder.*`` (their loader strips ``model.``: ``eeg_eval.py`` L1369-1378). braindecode's
ZUNA is the encoder with the authors' submodule names, except that the authors wrap each
``torch.nn.RMSNorm`` in their own ``RMSNorm`` holding it as ``.norm`` (``lingua/transformer.py``
L375-386): ``….norm.weight`` there is ``….weight`` here. The decoder is dropped (listed).
"""

from __future__ import annotations

import re

from ...weights.errors import WeightsError
from ...weights.formats import Converted, WeightFormat, is_tensor_dict

_WRAPPED_NORM = re.compile(r"\.norm\.weight$")


def _state(obj):
    if not is_tensor_dict(obj):
        return None
    if not any(k.startswith("model.encoder.") for k in obj) or not any(k.startswith("model.decoder.") for k in obj):
        return None
    return obj


def _matches(obj) -> bool:
    return _state(obj) is not None


def _convert(obj):
    sd = _state(obj)
    if sd is None:
        raise WeightsError("Not a ZUNA release (no model.encoder.* beside model.decoder.*).")
    out, dropped = {}, {}
    for key, value in sd.items():
        inner = key.removeprefix("model.")
        if inner.startswith("encoder."):
            out[_WRAPPED_NORM.sub(".weight", inner)] = value
        elif inner.startswith("decoder."):
            dropped[key] = "diffusion decoder of the autoencoder, not part of the encoder"
        else:
            dropped[key] = "outside the encoder"
    return Converted(out, dropped=dropped)


FORMAT = WeightFormat("zuna-hf", _matches, _convert)
