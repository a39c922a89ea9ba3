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
