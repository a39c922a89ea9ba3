"""Fitting converted weights to a built module, with full verification.

Every backbone tensor of the module must come from the checkpoint, with
the same shape, and the checkpoint may hold no backbone tensor the module
lacks; otherwise :class:`WeightsError` lists what differs. Head tensors
(the card's ``head_prefixes``) are re-initialised unless asked to be kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import WeightsError

_MAX_LISTED = 12


@dataclass(frozen=True)
class WeightsReport:
    """What was loaded into a module, and from where.

    Built by the weight loader (``weights_report_`` of a fitted estimator);
    each field is an attribute of the same name.

    Parameters
    ----------
    source : str
        Registry name, ``repo@revision`` or path.
    fmt : str
        On-disk layout that was converted.
    files : dict, default={}
        Path -> SHA-256 of every file read.
    loaded : tuple of str, default=()
        Module keys that now hold checkpoint tensors.
    initialised : tuple of str, default=()
        Module keys left freshly initialised (the head).
    ignored : tuple of str, default=()
        Checkpoint keys not used, each with the reason.
    adapted : tuple of str, default=()
        Checkpoint tensors reshaped to fit, with both shapes, and tensors
        merged by the converter (LoRA factors folded into their weight).
    dropped : tuple of str, default=()
        Every tensor of the file(s) the converter left out (pretraining-only
        parts, training state...), each ``"path (reason)"``.
    inert : tuple of str, default=()
        Names of the objects a pickle referred to that were left inert
        (never imported nor called), e.g. a Lightning scheduler's method.
    """

    source: str
    fmt: str
    files: dict = field(default_factory=dict)
    loaded: tuple = ()
    initialised: tuple = ()
    ignored: tuple = ()
    adapted: tuple = ()
    dropped: tuple = ()
    inert: tuple = ()

    def __str__(self):
        lines = [
            f"Weights from {self.source} (format {self.fmt!r})",
            *(f"  file {p}  sha256={h}" for p, h in self.files.items()),
            f"  loaded {len(self.loaded)} tensors; freshly initialised "
            f"{len(self.initialised)}: {list(self.initialised)}",
        ]
        if self.adapted:
            lines.append(f"  adapted: {list(self.adapted)}")
        if self.ignored:
            lines.append(f"  ignored checkpoint tensors: {list(self.ignored)}")
        if self.dropped:
            lines.append(f"  dropped by the converter: {len(self.dropped)} tensors (all in .dropped)")
            for reason, paths in _by_reason(self.dropped).items():
                lines.append(f"    {len(paths)} {reason}: {_listing(paths)}")
        if self.inert:
            lines.append(f"  objects in the file left inert (never imported nor run): {list(self.inert)}")
        return "\n".join(lines)


def _by_reason(entries):
    """``"path (reason)"`` entries grouped: reason -> paths, in first-seen order."""
    groups = {}
    for entry in entries:
        path, _, reason = entry.partition(" (")
        groups.setdefault(reason.rstrip(")") or "no reason given", []).append(path)
    return groups


def describe_dropped(dropped, merged=None):
    """Report entries for a converter's ``dropped`` and ``merged`` mappings.

    Parameters
    ----------
    dropped : mapping of str to str
        Source path -> reason.
    merged : mapping of str to str, optional
        Source path -> converted key it was folded into.

    Returns
    -------
    dropped_entries, merged_entries : tuple of str, list of str
        ``"path (reason)"`` and ``"path merged into key"``.
    """
    return (tuple(f"{p} ({r})" for p, r in dropped.items()),
            [f"{p} merged into {k}" for p, k in (merged or {}).items()])


def _listing(items):
    items = list(items)
    shown = ", ".join(items[:_MAX_LISTED])
    more = f" (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return shown + more


def _owner(module, key):
    """The submodule owning state key ``key``, or None.

    Where the path stops at an ``nn.Identity`` (a layer replaced whole, with
    its own sublayers, e.g. EEGPT's channel projection), that Identity.
    """
    from torch import nn

    parts = key.split(".")[:-1]
    sub = module
    for part in parts:
        try:
            sub = sub.get_submodule(part)
        except AttributeError:
            return sub if isinstance(sub, nn.Identity) else None
    return sub


def _non_persistent_buffers(module):
    out = set()
    for name, sub in module.named_modules():
        for buf in getattr(sub, "_non_persistent_buffers_set", ()):
            out.add(f"{name}.{buf}" if name else buf)
    return out


def _drop_unusable(module, state, target):
    """Remove checkpoint keys the module has no slot for by design."""
    from torch import nn

    ignored = []
    non_persistent = _non_persistent_buffers(module)
    for key in list(state):
        if key in target:
            continue
        if key in non_persistent:
            reason = "non-persistent buffer, rebuilt by the module"
        elif isinstance(_owner(module, key), nn.Identity):
            reason = "the module replaces this layer by Identity"
        else:
            continue
        del state[key]
        ignored.append(f"{key} ({reason})")
    return ignored


def _truncate_tables(state, target, truncatable):
    # Learned position tables longer than the module needs are cut to its length (a card fact).
    adapted = []
    for key, dim in truncatable.items():
        if key not in state or key not in target:
            continue
        have, want = state[key].shape, target[key].shape
        same_rest = len(have) == len(want) and all(
            a == b for i, (a, b) in enumerate(zip(have, want)) if i != dim
        )
        if same_rest and have[dim] > want[dim]:
            state[key] = state[key].narrow(dim, 0, want[dim])
            adapted.append(f"{key} {tuple(have)} -> {tuple(want)}")
    return adapted


def match_state_dict(module, state, head_prefixes, *, keep_head=False, where="checkpoint", truncatable=None):
    """Check converted weights against a module and build what to load.

    Parameters
    ----------
    module : torch.nn.Module
        The target module.
    state : dict
        Converted checkpoint, braindecode key names.
    head_prefixes : tuple of str
        Keys under these prefixes form the task head.
    keep_head : bool
        Load the checkpoint's head too (shapes must match).
    where : str
        Source description for error messages.
    truncatable : mapping of str to int or None
        Position tables that may be cut to the module's length along a dim
        (the card's ``truncatable``).

    Returns
    -------
    to_load : dict
        Module key -> tensor for every key to load.
    info : dict
        ``loaded``, ``initialised``, ``ignored``, ``adapted`` lists.

    Raises
    ------
    WeightsError
        On any missing, unexpected or mis-shaped backbone key, or a head
        that cannot be kept.
    """
    target = module.state_dict()
    state = dict(state)
    ignored = _drop_unusable(module, state, target)
    adapted = _truncate_tables(state, target, truncatable or {})

    def is_head(key):
        return key.startswith(tuple(head_prefixes))

    missing = [k for k in target if not is_head(k) and k not in state]
    unexpected = [k for k in state if not is_head(k) and k not in target]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if not is_head(k) and k in state and state[k].shape != target[k].shape
    ]
    if missing or unexpected or mismatched:
        n_backbone = sum(not is_head(k) for k in target)
        lines = [f"The {where} does not fit the model's backbone:"]
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): {_listing(mismatched)}")
        if missing:
            lines.append(f"  missing from the checkpoint ({len(missing)}): {_listing(missing)}")
        if unexpected:
            lines.append(f"  not in the model ({len(unexpected)}): {_listing(unexpected)}")
        if len(missing) == n_backbone:
            lines.append("  None of the backbone tensors was found: is this a checkpoint of another model?")
        lines.append(
            "  Build the model with the checkpoint's own configuration (channel "
            "count, window length, architecture kwargs), or use a registry name "
            "that records it."
        )
        raise WeightsError("\n".join(lines))

    head_keys = [k for k in target if is_head(k)]
    to_load = {k: state[k] for k in target if not is_head(k)}
    if keep_head:
        bad = [
            f"{k}: checkpoint {tuple(state[k].shape) if k in state else 'absent'} "
            f"vs model {tuple(target[k].shape)}"
            for k in head_keys
            if k not in state or state[k].shape != target[k].shape
        ]
        if bad:
            raise WeightsError(
                f"keep_head=True but the {where}'s head does not fit: {_listing(bad)}. "
                "Use as many outputs as the checkpoint's head, or keep_head=False "
                "to train a fresh head."
            )
        to_load.update({k: state[k] for k in head_keys})
        initialised = []
    else:
        initialised = head_keys
        ignored += [f"{k} (checkpoint head, re-initialised)" for k in state if is_head(k)]
    info = {
        "loaded": list(to_load),
        "initialised": initialised,
        "ignored": ignored,
        "adapted": adapted,
    }
    return to_load, info


def _check_values(module, to_load, where):
    """Refuse tensors that would be cast silently (integers into floats) or hold NaN/inf."""
    import torch

    target = module.state_dict()
    cast = [f"{k} (dtype {str(v.dtype).replace('torch.', '')})" for k, v in to_load.items()
            if target[k].is_floating_point() and not v.is_floating_point()]
    if cast:
        want = str(next(target[k.split(" ")[0]].dtype for k in cast)).replace("torch.", "")
        raise WeightsError(
            f"The {where} holds non-float tensors where the model has {want} parameters: {_listing(cast)}. "
            "Loading would cast them silently; this is not a float checkpoint of this model "
            "(quantised or another kind of file). Use the float release of the weights."
        )
    bad = [k for k, v in to_load.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WeightsError(
            f"The {where} has NaN or infinite values in {len(bad)} tensor(s): {_listing(bad)}. "
            "The file is damaged or comes from a run that diverged; get a clean copy of the weights."
        )


def load_into_module(module, resolved, *, keep_head=False):
    """Load resolved weights into a built module, verifying every key.

    Parameters
    ----------
    module : torch.nn.Module
        Built by ``resolved.card.build_module(...)`` (which applies the
        checkpoint's post-build tweak, e.g. BENDR's authors' form); changed
        in place.
    resolved : ResolvedWeights
        From :func:`~eegfm_sklearn.weights.resolve_weights`.
    keep_head : bool
        Keep the checkpoint's head (its shapes must match the module's);
        by default the head stays freshly initialised for the user's task.

    Returns
    -------
    report : WeightsReport

    Raises
    ------
    WeightsError
        If any backbone key is missing, unexpected or mis-shaped, holds
        integers where the module has floats, or holds NaN/inf.
    """
    import torch

    to_load, info = match_state_dict(
        module,
        resolved.state_dict,
        resolved.card.head_prefixes,
        keep_head=keep_head,
        where=f"checkpoint {resolved.source}",
        truncatable=resolved.card.truncatable,
    )
    _check_values(module, to_load, f"checkpoint {resolved.source}")
    full = module.state_dict()
    full.update(to_load)
    with torch.no_grad():
        module.load_state_dict(full, strict=True)
    dropped, merged = describe_dropped(getattr(resolved, "dropped", {}), getattr(resolved, "merged", {}))
    return WeightsReport(
        source=resolved.source,
        fmt=resolved.fmt,
        files=dict(resolved.files),
        loaded=tuple(info["loaded"]),
        initialised=tuple(info["initialised"]),
        ignored=tuple(info["ignored"]),
        adapted=tuple(info["adapted"]) + tuple(merged),
        dropped=dropped,
        inert=tuple(getattr(resolved, "inert", ())),
    )
