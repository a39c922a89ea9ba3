"""On-disk key layouts and their converters to braindecode's layout.

Each :class:`WeightFormat` is named as in a card's ``weight_formats``. It
says whether a loaded object is in its layout (``matches``) and converts it
to a flat ``{braindecode key: tensor}`` dict (``convert``). Formats released
as several files declare their ``parts`` (part name -> default file name).
Key facts come from /work/shared/specs/checkpoints.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import WeightsError


@dataclass(frozen=True)
class WeightFormat:
    """One on-disk layout of pretrained weights.

    Parameters
    ----------
    name : str
        Name used in ``ModelCard.weight_formats``.
    matches : callable
        ``matches(obj) -> bool``: cheap signature check of a loaded object.
    convert : callable
        ``convert(obj) -> dict[str, Tensor]`` in braindecode key names.
    parts : tuple of (str, str)
        For multi-file releases: (part name, default file name) pairs; the
        loaded object is then ``{part name: loaded file}``.
    generic : bool
        True for a layout that accepts any flat tensor dict; such formats
        are tried after the specific ones.
    """

    name: str
    matches: Callable[[Any], bool]
    convert: Callable[[Any], dict]
    parts: tuple[tuple[str, str], ...] = ()
    generic: bool = False


# --------------------------------------------------------------- helpers
def _is_tensor_dict(obj) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(obj, wrapper_keys):
    """Return the first ``obj[k]`` that is a tensor dict, else ``obj``."""
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        for key in wrapper_keys:
            if _is_tensor_dict(obj.get(key)):
                return obj[key]
    return obj


def _strip_prefix(sd, prefix):
    """Strip ``prefix`` when every key carries it (DataParallel's ``module.``)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return dict(sd)


def _rename_weight_norm(sd):
    # torch.nn.utils.weight_norm (old) -> parametrize.weight_norm (new) names.
    out = {}
    for key, value in sd.items():
        key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
        key = re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)
        out[key] = value
    return out


# ----------------------------------------------------------- braindecode
def _braindecode_state(obj):
    # bendr-pretrained-v1 wrapped weights as {'model_state_dict': ...}.
    sd = _unwrap(obj, ("model_state_dict", "state_dict"))
    return _strip_prefix(sd, "module.") if _is_tensor_dict(sd) else None


def _braindecode_matches(obj) -> bool:
    return _braindecode_state(obj) is not None


def _braindecode_convert(obj):
    sd = _braindecode_state(obj)
    if sd is None:
        raise WeightsError("Not a flat state dict of tensors (braindecode layout).")
    return _rename_weight_norm(sd)


# ---------------------------------------------------------- BIOT original
_BIOT_SIGNATURE = ("patch_embedding.projection.weight", "channel_tokens.weight")


def _biot_backbone(obj):
    # Lightning wraps as {'state_dict': {'model.biot.*', ...}}.
    sd = _unwrap(obj, ("state_dict",))
    if not _is_tensor_dict(sd):
        return None
    sd = _strip_prefix(sd, "module.")
    sd = _strip_prefix(sd, "model.")
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


# -------------------------------------------------------- LaBraM original
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
    sd = _unwrap(obj, ("model", "module"))
    if not _is_tensor_dict(sd):
        return None
    sd = _strip_prefix(sd, "module.")
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
    # (see verify.TRUNCATABLE).
    return out


# --------------------------------------------------------- BENDR original
_BENDR_PARTS = (("encoder", "encoder.pt"), ("contextualizer", "contextualizer.pt"))


def _bendr_parts(obj):
    if not (isinstance(obj, Mapping) and set(obj) == {"encoder", "contextualizer"}):
        return None
    enc = _unwrap(obj["encoder"], ("state_dict", "model_state_dict"))
    ctx = _unwrap(obj["contextualizer"], ("state_dict", "model_state_dict"))
    if not (_is_tensor_dict(enc) and _is_tensor_dict(ctx)):
        return None
    enc, ctx = _strip_prefix(enc, "module."), _strip_prefix(ctx, "module.")
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
    for key, value in _rename_weight_norm(ctx).items():
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


# ---------------------------------------------------------------- registry
FORMATS: dict[str, WeightFormat] = {
    fmt.name: fmt
    for fmt in (
        WeightFormat("braindecode", _braindecode_matches, _braindecode_convert, generic=True),
        WeightFormat("biot-original", _biot_matches, _biot_convert),
        WeightFormat("labram-original", _labram_matches, _labram_convert),
        WeightFormat("bendr-original", _bendr_matches, _bendr_convert, parts=_BENDR_PARTS),
    )
}


def register_format(fmt: WeightFormat) -> WeightFormat:
    """Add a layout (third-party cards can name it in ``weight_formats``)."""
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> WeightFormat:
    """Return the format called ``name``."""
    if name not in FORMATS:
        raise WeightsError(f"Unknown weight format {name!r}; known: {sorted(FORMATS)}.")
    return FORMATS[name]


def formats_for(card) -> list[WeightFormat]:
    """The card's formats, specific layouts first, generic ones last."""
    fmts = [get_format(n) for n in card.weight_formats]
    return [f for f in fmts if not f.generic] + [f for f in fmts if f.generic]


def detect_format(obj, card, where: str = "") -> str:
    """Name of the first of the card's formats that recognises ``obj``.

    Parameters
    ----------
    obj : object
        What :func:`~eegfm_sklearn.weights.safe.read_weight_file` returned
        (or a dict of parts for multi-file formats).
    card : ModelCard
        Its ``weight_formats`` say which layouts may apply.
    where : str
        Description of the source, for the error message.
    """
    for fmt in formats_for(card):
        if fmt.matches(obj):
            return fmt.name
    hint = ""
    if isinstance(obj, Mapping):
        keys = list(obj)[:8]
        hint = f" Its top-level keys start with {keys}."
    raise WeightsError(
        f"{where or 'The weights'} are in none of the layouts {card.name!r} "
        f"accepts {list(card.weight_formats)}.{hint} Is this a checkpoint of "
        "another model?"
    )


def convert(obj, fmt_name: str) -> dict:
    """Convert a loaded object of format ``fmt_name`` to braindecode keys."""
    fmt = get_format(fmt_name)
    if not fmt.matches(obj):
        raise WeightsError(f"The file is not in the {fmt_name!r} layout it was registered with.")
    return fmt.convert(obj)
