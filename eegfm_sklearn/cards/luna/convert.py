"""The layout of the authors' LUNA files (``PulpBio/LUNA``, ``LUNA_<size>.safetensors``).

The files hold the pretraining model (BioFoundation's key names): the encoder,
plus the masked-patch reconstruction decoder (``decoder_head.*``) and its
channel-name embedding (``channel_emb.*``), which a classification model
does not have. braindecode's ``LUNA.mapping`` renames the keys that differ
(the channel-location MLP's ``.0.`` level, the ``temparature`` spelling);
the same renames apply here, and the reconstruction-only parts are dropped
by name. A file already in braindecode's names passes through unchanged.
"""

from __future__ import annotations

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, strip_prefix, unwrap

# braindecode's LUNA.mapping (authors' name -> braindecode's).
RENAMES = {
    "channel_location_embedder.0.fc1.weight": "channel_location_embedder.fc1.weight",
    "channel_location_embedder.0.fc1.bias": "channel_location_embedder.fc1.bias",
    "channel_location_embedder.0.fc2.weight": "channel_location_embedder.fc2.weight",
    "channel_location_embedder.0.fc2.bias": "channel_location_embedder.fc2.bias",
    "channel_location_embedder.0.norm.weight": "channel_location_embedder.norm.weight",
    "channel_location_embedder.0.norm.bias": "channel_location_embedder.norm.bias",
    "cross_attn.temparature": "cross_attn.temperature",
}
# Pretraining-only parts: the reconstruction decoder and its channel-name table.
RECONSTRUCTION_PREFIXES = ("decoder_head.", "channel_emb.")


def _state(obj):
    sd = unwrap(obj, ("state_dict", "model_state_dict", "model"))
    if not is_tensor_dict(sd):
        return None
    for prefix in ("module.", "model."):
        sd = strip_prefix(sd, prefix)
    return sd


def _matches(obj) -> bool:
    sd = _state(obj)
    return sd is not None and any(k.startswith("cross_attn.") for k in sd) and any(
        k.startswith("patch_embed.") for k in sd)


# The LayerNorms of the authors' two MLPs (timm Mlp(norm_layer=nn.LayerNorm), BioFoundation
# models/LUNA.py:138 and :223), which braindecode 1.8.1's LUNA lacks (see module.py).
AUTHORS_NORMS = ("channel_location_embedder.norm.weight", "cross_attn.ffn.norm.weight")


def _convert(obj):
    sd = {RENAMES.get(k, k): v for k, v in _state(obj).items() if not k.startswith(RECONSTRUCTION_PREFIXES)}
    missing = [k for k in AUTHORS_NORMS if k not in sd]
    if missing:
        raise WeightsError(
            f"This LUNA file has no {missing}: it was saved from braindecode 1.8.1's LUNA, which drops the "
            "LayerNorm of two MLPs that the authors' network has (pulp-bio/BioFoundation models/LUNA.py:138, "
            ":223). Loaded into the authors' network those norms would stay at their initial values and the "
            "features would differ from any trained LUNA's; it is refused. Use the authors' release "
            "(weights='luna-base' / 'luna-large' / 'luna-huge', PulpBio/LUNA) or a file saved by this package.")
    return sd


FORMAT = WeightFormat("luna-pulpbio", _matches, _convert)
