"""On-disk key layouts: the generic machinery and braindecode's own layout.

A :class:`WeightFormat` says whether a loaded object is in its layout
(``matches``) and converts it to a flat ``{braindecode key: tensor}`` dict
(``convert``). Formats released as several files declare their ``parts``
(part name -> default file name). The authors' own layouts are per-model
facts: each lives in its model's card package (``cards/<model>/convert.py``)
and is listed in the card's ``weight_formats``; braindecode's layout applies
to every card. The small helpers below are shared by those converters.
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
        Name a ``Checkpoint.fmt`` refers to (e.g. ``"labram-original"``).
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


class Converted(dict):
    """A converter's output: ``{braindecode key: tensor}``, plus what it left out and why.

    Parameters
    ----------
    tensors : mapping
        The converted tensors.
    dropped : mapping of str to str, optional
        Path of a tensor of the source object (see :func:`tensor_paths`) -> why it is
        not loaded (e.g. ``"pretraining predictor, not part of the encoder"``).
    merged : mapping of str to str, optional
        Path of a source tensor folded into a converted one -> that key (LoRA
        factors merged into their base weight).
    """

    def __init__(self, tensors=(), dropped=None, merged=None):
        super().__init__(tensors)
        self.dropped = dict(dropped or {})
        self.merged = dict(merged or {})


# --------------------------------------------------------------- helpers
def tensor_paths(obj, prefix=""):
    """Every tensor inside ``obj`` (through dicts, lists and tuples), by dotted path.

    Parameters
    ----------
    obj : object
        What a weight file held (or a dict of parts of a multi-file release).
    prefix : str
        Path of ``obj`` itself.

    Returns
    -------
    paths : list of (str, Tensor)
        ``("state_dict.predictor.norm.weight", tensor)``, ... in the object's order.
    """
    import torch

    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    if isinstance(obj, Mapping):
        items = ((str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return []
    out = []
    for key, value in items:
        out += tensor_paths(value, f"{prefix}.{key}" if prefix else key)
    return out


def _storage(t):
    # Renaming, views and reshapes keep the storage; empty tensors may share address 0.
    ptr = t.untyped_storage().data_ptr()
    return ptr if ptr and t.numel() else ("empty", id(t))


def audit_dropped(obj, converted) -> Converted:
    """Account for every tensor of ``obj``: converted, merged, or dropped with a reason.

    A source tensor whose storage no converted tensor shares, and which the
    converter neither declared dropped nor merged, is listed as dropped
    ("not used by the converter"), so nothing is left out silently.

    Parameters
    ----------
    obj : object
        The object the converter read.
    converted : dict or Converted
        Its output.

    Returns
    -------
    converted : Converted
        With ``dropped`` completed.
    """
    out = converted if isinstance(converted, Converted) else Converted(converted)
    kept = {_storage(v) for v in out.values()}
    for path, tensor in tensor_paths(obj):
        if path in out.dropped or path in out.merged or _storage(tensor) in kept:
            continue
        out.dropped[path] = "not used by the converter"
    return out


def is_tensor_dict(obj) -> bool:
    """Whether ``obj`` is a non-empty ``{str: Tensor}`` mapping."""
    import torch

    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap(obj, wrapper_keys):
    """Return the first ``obj[k]`` that is a tensor dict, else ``obj``."""
    if isinstance(obj, Mapping) and not is_tensor_dict(obj):
        for key in wrapper_keys:
            if is_tensor_dict(obj.get(key)):
                return obj[key]
    return obj


def strip_prefix(sd, prefix):
    """Strip ``prefix`` when every key carries it (DataParallel's ``module.``)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return dict(sd)


def rename_weight_norm(sd):
    """torch.nn.utils.weight_norm (old) -> parametrize.weight_norm (new) key names."""
    out = {}
    for key, value in sd.items():
        key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
        key = re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)
        out[key] = value
    return out


# ----------------------------------------------------------- braindecode
def _braindecode_state(obj):
    # bendr-pretrained-v1 wrapped weights as {'model_state_dict': ...}.
    sd = unwrap(obj, ("model_state_dict", "state_dict"))
    return strip_prefix(sd, "module.") if is_tensor_dict(sd) else None


def _braindecode_matches(obj) -> bool:
    return _braindecode_state(obj) is not None


def _braindecode_convert(obj):
    sd = _braindecode_state(obj)
    if sd is None:
        raise WeightsError("Not a flat state dict of tensors (braindecode layout).")
    return rename_weight_norm(sd)


BRAINDECODE = WeightFormat("braindecode", _braindecode_matches, _braindecode_convert, generic=True)


# ------------------------------------------------------------ per card
def formats_for(card) -> list[WeightFormat]:
    """The card's layouts, specific ones first, braindecode's (generic) last."""
    fmts = [f for f in card.weight_formats if f.name != BRAINDECODE.name] + [BRAINDECODE]
    return [f for f in fmts if not f.generic] + [f for f in fmts if f.generic]


def get_format(name: str, card) -> WeightFormat:
    """The layout called ``name`` among ``card``'s."""
    for fmt in formats_for(card):
        if fmt.name == name:
            return fmt
    known = [f.name for f in formats_for(card)]
    raise WeightsError(f"{card.name!r} has no weight format {name!r}; known: {known}.")


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
        f"accepts {[f.name for f in formats_for(card)]}.{hint} Is this a checkpoint of "
        "another model?"
    )


def convert(obj, fmt_name: str, card) -> Converted:
    """Convert a loaded object of ``card``'s format ``fmt_name`` to braindecode keys.

    Returns
    -------
    converted : Converted
        The tensors, with every source tensor left out listed in ``dropped``
        (the converter's reason, or "not used by the converter").
    """
    fmt = get_format(fmt_name, card)
    if not fmt.matches(obj):
        raise WeightsError(f"The file is not in the {fmt_name!r} layout it was registered with.")
    return audit_dropped(obj, fmt.convert(obj))
