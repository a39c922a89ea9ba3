"""BENDR's original release (SPOClab-ca/BENDR ``encoder.pt`` + ``contextualizer.pt``) -> braindecode keys,
and the authors' form of the network."""

from __future__ import annotations

from collections.abc import Mapping

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, rename_weight_norm, strip_prefix, unwrap

_BENDR_PARTS = (("encoder", "encoder.pt"), ("contextualizer", "contextualizer.pt"))


def _bendr_parts(obj):
    if not (isinstance(obj, Mapping) and set(obj) == {"encoder", "contextualizer"}):
        return None
    enc = unwrap(obj["encoder"], ("state_dict", "model_state_dict"))
    ctx = unwrap(obj["contextualizer"], ("state_dict", "model_state_dict"))
    if not (is_tensor_dict(enc) and is_tensor_dict(ctx)):
        return None
    enc, ctx = strip_prefix(enc, "module."), strip_prefix(ctx, "module.")
    if not any(k.startswith("encoder.Encoder_") for k in enc):
        return None
    if "input_conditioning.4.weight" not in ctx:
        return None
    return enc, ctx


def _bendr_matches(obj) -> bool:
    return _bendr_parts(obj) is not None


def _bendr_convert(obj):
    parts = _bendr_parts(obj)
    if parts is None:
        raise WeightsError(
            "Not BENDR's original release: expected encoder.pt (encoder.Encoder_*) "
            "and contextualizer.pt (input_conditioning.4.*)."
        )
    enc, ctx = parts
    out = {"encoder." + k: v for k, v in enc.items()}
    for key, value in rename_weight_norm(ctx).items():
        if key == "mask_replacement":
            continue  # pretraining-only mask vector
        if key == "input_conditioning.4.weight":
            # Conv1d(k=1) (out, in, 1) -> Linear (out, in) at index 3.
            key, value = "input_conditioning.3.weight", value.squeeze(-1)
        elif key == "input_conditioning.4.bias":
            key = "input_conditioning.3.bias"
        out["contextualizer." + key] = value
    return out


def bendr_authors_form(module):
    """Make a braindecode BENDR compute what the authors' model computed.

    The authors' contextualizer never applies its final ``norm`` before
    ``output_layer``; braindecode does (outputs differ by ~11). Replacing it
    with ``Identity`` restores the original outputs. The checkpoint's
    ``contextualizer.norm.*`` tensors are then reported as ignored.
    Features stay braindecode's start token ``context[:, :, 0]``; the
    authors' downstream classifier read the last token ``context[:, :, -1]``.

    Parameters
    ----------
    module : braindecode.models.BENDR
        Built module; changed in place (idempotent).

    Returns
    -------
    module : braindecode.models.BENDR
        The same module.
    """
    from torch import nn

    module.contextualizer.norm = nn.Identity()
    return module


FORMAT = WeightFormat("bendr-original", _bendr_matches, _bendr_convert, parts=_BENDR_PARTS)
