"""The ``docs`` extra installs what the gallery needs: every import of ``examples/plot_*.py``.

sphinx-gallery runs each ``plot_*.py`` script; a package they import (directly, or lazily inside
the eegfm_sklearn function they call, such as ``benchmark``'s pyRiemann baselines) must come with
``pip install -e ".[docs]"``: the base dependencies or the ``docs`` extra.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


def _imports(tree):
    """(top-level module, names imported from it) of every import statement, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, tuple(a.name for a in node.names)


def gallery_requirements():
    """Top-level packages the gallery scripts need, with the script that needs each."""
    need = {}
    for script in sorted((ROOT / "examples").glob("plot_*.py")):
        for module, names in _imports(ast.parse(script.read_text())):
            need.setdefault(module.split(".")[0], script.name)
            if module.split(".")[0] != "eegfm_sklearn":
                continue
            for name in names:  # the package's functions import their optional dependencies lazily
                obj = getattr(importlib.import_module(module), name, None)
                source = getattr(sys.modules.get(getattr(obj, "__module__", "") or ""), "__file__", None)
                if source:
                    for dep, _ in _imports(ast.parse(Path(source).read_text())):
                        need.setdefault(dep.split(".")[0], f"{script.name} (through {obj.__module__})")
    return need


def _name(spec):
    return re.split(r"[<>=!~\[; (]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def installed_by_docs_extra():
    """The distributions ``pip install -e ".[docs]"`` installs: those named, and what they require."""
    from importlib import metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = {_name(spec) for spec in project["dependencies"] + project["optional-dependencies"]["docs"]}
    provided = set(named)
    for dist in named:  # one level: e.g. scikit-learn brings joblib and threadpoolctl
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        provided |= {_name(r) for r in requires if "extra ==" not in r}
    return provided


def test_the_docs_extra_covers_every_import_of_the_gallery():
    provided = installed_by_docs_extra()
    need = gallery_requirements()
    assert "matplotlib" in need  # the parser sees the scripts' imports
    missing = {
        f"{DISTRIBUTIONS.get(module, module)} (for {where})"
        for module, where in need.items()
        if module not in sys.stdlib_module_names and module not in ("eegfm_sklearn", "__future__")
        and DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in provided
    }
    assert not missing, f"add to the docs extra in pyproject.toml: {sorted(missing)}"


@pytest.mark.parametrize("extra", ["docs"])
def test_readme_names_the_extra_it_installs(extra):
    assert f'pip install -e ".[{extra}]"' in (ROOT / "README.md").read_text()
