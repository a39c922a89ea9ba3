"""What the weights code knows of every registered model, told by the card registry.

The cards depend on this package, never the reverse: ``register_card`` reports each card's
plain-data pickle classes and checkpoint names here, so that a file of another model is read
and then recognised as such (not refused as unsafe), and a checkpoint name given to the wrong
model says whose it is.
"""

from __future__ import annotations

_PLAIN_CLASSES: dict[str, tuple] = {}  # model -> classes its releases pickle (plain data only)
_CHECKPOINT_NAMES: dict[str, tuple] = {}  # model -> its registered checkpoint names


def register_model(name, safe_globals=(), checkpoint_names=()):
    """Record a model's plain-data pickle classes and checkpoint names (replacing earlier ones).

    Parameters
    ----------
    name : str
        The model's registry name.
    safe_globals : tuple of type
        Classes its releases pickle that hold plain data only.
    checkpoint_names : tuple of str
        Its registered checkpoint names.
    """
    _PLAIN_CLASSES[name] = tuple(safe_globals)
    _CHECKPOINT_NAMES[name] = tuple(checkpoint_names)


def plain_classes(first=()):
    """``first``, then every registered model's plain-data classes, without repeats."""
    allowed = list(first)
    for classes in _PLAIN_CLASSES.values():
        allowed += [c for c in classes if c not in allowed]
    return tuple(allowed)


def owner_of_checkpoint(name):
    """The first model, by name, that registered checkpoint ``name`` (variants may share one), or None."""
    return next((model for model, names in sorted(_CHECKPOINT_NAMES.items()) if name in names), None)
