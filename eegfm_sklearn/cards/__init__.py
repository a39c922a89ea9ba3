"""Model cards: the registry of supported foundation models.

Every module or package under ``eegfm_sklearn/cards/`` that defines
``CARD`` (or ``CARDS``, for a family of variants) is registered when this
package is imported: adding a model is adding its card module.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..weights.known import register_model
from .base import Checkpoint, FilterSpec, ModelCard, WindowSpec

_REGISTRY: dict[str, ModelCard] = {}


def register_card(card: ModelCard) -> ModelCard:
    """Add a card to the registry (third-party models can register too).

    Parameters
    ----------
    card : ModelCard
        The card; it replaces any card registered under the same ``card.name``.

    Returns
    -------
    card : ModelCard
        The same card, so the call can wrap a card's definition.
    """
    _REGISTRY[card.name] = card
    # the weights code learns what it needs of each model from here (it never imports the cards)
    register_model(card.name, card.safe_globals, tuple(c.name for c in card.checkpoints))
    return card


def _discover():
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for card in getattr(module, "CARDS", ()) or (getattr(module, "CARD", None),):
            if card is not None:
                register_card(card)


_discover()


def list_models(status=False):
    """List the registered models, sorted by name.

    Parameters
    ----------
    status : bool, default=False
        Return ``{name: status}`` instead, where status is ``"weights
        available"`` or ``"architecture only"``.

    Returns
    -------
    names : list of str or dict of str to str
        The model names (what ``model=`` accepts), or with ``status=True``
        a dict from each name to its status.
    """
    names = sorted(_REGISTRY)
    return {n: _REGISTRY[n].status for n in names} if status else names


def get_model_card(name) -> ModelCard:
    """Return the card of model ``name`` (case-insensitive), or a card as is.

    Parameters
    ----------
    name : str or ModelCard
        A registered model name such as ``"labram"``.

    Returns
    -------
    card : ModelCard
        The registered card (``name`` itself when it is a card).
    """
    if isinstance(name, ModelCard):
        return name
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose one of {list_models()}.")
    return _REGISTRY[key]


__all__ = ["Checkpoint", "FilterSpec", "ModelCard", "WindowSpec", "get_model_card", "list_models",
           "register_card"]
