"""The package layout: the adapter's steps in preprocessing/, services in utils/, old paths kept."""

import importlib

import pytest

from eegfm_sklearn._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_path_is_the_moved_module(old):
    moved = importlib.import_module(f"eegfm_sklearn.{MOVED[old]}")
    aliased = importlib.import_module(f"eegfm_sklearn.{old}")
    assert aliased is moved
    assert moved.__spec__.name == moved.__name__ == f"eegfm_sklearn.{MOVED[old]}"


def test_montage_planning_does_not_need_the_adapter():
    import ast
    import pathlib

    import eegfm_sklearn.preprocessing.montage as montage

    tree = ast.parse(pathlib.Path(montage.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "adapter" not in imported
    from eegfm_sklearn.preprocessing.adapter import plan_channels

    assert plan_channels is montage.plan_channels


def _relative_imports(package_dir):
    import ast
    import pathlib

    found = set()
    for path in pathlib.Path(package_dir).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                found.add((path.name, "." * node.level + (node.module or "")))
    return found


def test_weights_and_services_never_import_the_cards():
    """Dependencies point one way: cards use weights and utils, never the reverse."""
    import pathlib

    import eegfm_sklearn

    root = pathlib.Path(eegfm_sklearn.__file__).parent
    for package in ("weights", "utils", "preprocessing"):
        offending = {(f, m) for f, m in _relative_imports(root / package) if m.lstrip(".").startswith("cards")}
        assert not offending, (package, offending)


def test_the_library_never_imports_the_command_line():
    """The CLI is a client of the library (corpus, io, estimators...), never a provider to it."""
    import pathlib

    import eegfm_sklearn

    root = pathlib.Path(eegfm_sklearn.__file__).parent
    for package in [p for p in root.iterdir() if p.is_dir() and p.name not in ("cli", "__pycache__")]:
        offending = {(f, m) for f, m in _relative_imports(package) if m.lstrip(".").startswith("cli")}
        assert not offending, (package.name, offending)


def test_the_weights_code_learns_models_from_the_registry():
    from eegfm_sklearn import get_model_card, register_card
    from eegfm_sklearn.cards import list_models
    from eegfm_sklearn.weights.known import owner_of_checkpoint, plain_classes

    for name in list_models():
        card = get_model_card(name)
        for ckpt in card.checkpoints:  # variants of a family may share a checkpoint
            owner = get_model_card(owner_of_checkpoint(ckpt.name))
            assert ckpt.name in [c.name for c in owner.checkpoints] and owner.name <= name
        assert set(card.safe_globals) <= set(plain_classes())
    # a card registered later is known too
    import dataclasses

    card = get_model_card("biot")
    ckpt = dataclasses.replace(card.checkpoints[0], name="my-biot-test")
    register_card(dataclasses.replace(card, name="biot_test_copy", checkpoints=(ckpt,)))
    try:
        assert owner_of_checkpoint("my-biot-test") == "biot_test_copy"
    finally:
        from eegfm_sklearn.cards import _REGISTRY
        from eegfm_sklearn.weights import known

        _REGISTRY.pop("biot_test_copy")
        known._PLAIN_CLASSES.pop("biot_test_copy")
        known._CHECKPOINT_NAMES.pop("biot_test_copy")
