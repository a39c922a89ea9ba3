"""The fast tier's representative models, and the package's declared bounds against its dependencies."""

from dataclasses import dataclass, replace

from eegfm_sklearn import get_model_card, list_models
from eegfm_sklearn.preprocessing.scaling import DivideBy

from conftest import REPRESENTATIVE, card_traits, representative_models, tiered


def test_representative_set_shows_every_trait_value_of_the_registry():
    registry = set().union(*(card_traits(m) for m in list_models()))
    shown = set().union(*(card_traits(m) for m in REPRESENTATIVE))
    assert shown == registry, sorted(registry - shown)
    assert set(REPRESENTATIVE) <= set(list_models()) and len(REPRESENTATIVE) < len(list_models())


@dataclass(frozen=True)
class _NewScaling(DivideBy):
    """A scaling class no registered card uses."""


def test_a_card_with_a_new_trait_value_joins_the_representative_set():
    cards = [get_model_card(m) for m in list_models()]
    assert representative_models(cards) == REPRESENTATIVE
    # a copy of a non-representative card is covered already: it stays out
    other = next(c for c in cards if c.name not in REPRESENTATIVE)
    twin = replace(other, name="twin")
    assert "twin" not in representative_models([*cards, twin])
    # the same copy with a scaling class nobody has: it joins
    new = replace(other, name="newcomer", scaling=_NewScaling())
    assert "newcomer" in representative_models([*cards, new])


def test_tiered_marks_only_the_other_models_slow():
    params = tiered()
    assert [p.id for p in params] == list_models()
    slow = {p.id for p in params if any(m.name == "slow" for m in p.marks)}
    assert slow == set(list_models()) - set(REPRESENTATIVE)
