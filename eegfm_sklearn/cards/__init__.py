"""Model cards: the registry of supported foundation models."""

from .base import Checkpoint, ModelCard, WindowSpec
from . import bendr, biot, labram

_REGISTRY: dict[str, ModelCard] = {}


def register_card(card: ModelCard) -> ModelCard:
    """Add a card to the registry (third-party models can register too)."""
    _REGISTRY[card.name] = card
    return card


for _module in (bendr, biot, labram):
    register_card(_module.CARD)


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def get_model_card(name) -> ModelCard:
    """Return the card of model ``name`` (case-insensitive), or a card as is.

    Parameters
    ----------
    name : str or ModelCard
        A registered model name such as ``"labram"``.
    """
    if isinstance(name, ModelCard):
        return name
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose one of {list_models()}.")
    return _REGISTRY[key]


__all__ = ["Checkpoint", "ModelCard", "WindowSpec", "get_model_card", "list_models", "register_card"]
