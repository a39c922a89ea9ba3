"""Our declared lower bounds are not below what braindecode 1.8.1 (our base) itself requires."""

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

PROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]


def lower_bound(specifier):
    """The version after ``>=`` in a specifier set (None if it has none)."""
    bounds = [Version(s.version) for s in SpecifierSet(str(specifier)) if s.operator == ">="]
    return max(bounds) if bounds else None


def test_requires_python_is_braindecodes():
    theirs = lower_bound(importlib.metadata.metadata("braindecode")["Requires-Python"])
    assert theirs is not None and lower_bound(PROJECT["requires-python"]) >= theirs


def test_shared_dependencies_start_where_braindecodes_do():
    theirs = {}
    for line in importlib.metadata.requires("braindecode"):
        req = Requirement(line)
        if req.marker is None:  # extras (docs, hub...) are not installed by our users
            theirs[req.name.lower().replace("_", "-")] = lower_bound(req.specifier)
    ours = {Requirement(line).name.lower().replace("_", "-"): lower_bound(Requirement(line).specifier)
            for line in PROJECT["dependencies"]}
    shared = sorted(set(ours) & set(theirs))
    assert "mne" in shared and "torch" in shared
    too_low = {name: (str(ours[name]), str(theirs[name])) for name in shared
               if theirs[name] is not None and (ours[name] is None or ours[name] < theirs[name])}
    assert too_low == {}, f"our lower bound below braindecode's (ours, theirs): {too_low}"
