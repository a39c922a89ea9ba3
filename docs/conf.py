"""Sphinx configuration of the eegfm_sklearn documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` from the
repository root. The model pages (``generated/models/``), the API stubs
(``generated/api/``) and the example gallery (``auto_examples/``) are
written at build time and are not tracked by git.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not another installed copy
sys.path.insert(0, str(HERE / "_ext"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a docs build downloads no weights
os.environ.setdefault("MPLBACKEND", "Agg")
# The gallery runs each example from examples/, where the package's "../shared/data"
# default would point inside the checkout: use the repository's neighbour instead.
if (ROOT.parent / "shared" / "data").is_dir():
    os.environ.setdefault("EEGFM_DATA_DIR", str(ROOT.parent / "shared" / "data"))

import eegfm_sklearn  # noqa: E402

project = "eegfm_sklearn"
author = "eegfm_sklearn developers"
copyright = "2026, eegfm_sklearn developers"
release = version = eegfm_sklearn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "model_pages",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# models.md is the checked-in table (tests/test_cards.py keeps it current); the generated
# model index includes it, so it is not a page of its own.
exclude_patterns = ["_build", "models.md", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]

# -- myst (the markdown pages) ----------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve and are checked

# -- API reference ----------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# The docstring of every documented object is validated; a failed check is a warning, so the
# -W build fails on it (e.g. a parameter undocumented, unknown or out of signature order, no
# Returns section, no docstring). "all" minus: ES01 (extended summary), EX01 (Examples) and
# SA01 (See Also), which not every small method needs; RT02, because a named return
# ("embeddings : ndarray ...") is the convention here, as in scikit-learn.
# No numpydoc_validation_exclude is needed: methods inherited from scikit-learn, torch or
# huggingface_hub are not documented here (see _skip_inherited_from_dependencies below), so
# they are never validated.
numpydoc_validation_checks = {"all", "ES01", "EX01", "SA01", "RT02"}

# -- example gallery --------------------------------------------------------------------
# examples/plot_*.py run at build time (small budgets, a figure each); the other scripts
# (the README's main job, MOABB, EEG->MEG: minutes each) are rendered, not run.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "show_signature": False,
    "doc_module": ("eegfm_sklearn",),
    "backreferences_dir": "generated/gallery_backreferences",
    "inspect_global_variables": False,
}

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"eegfm_sklearn {release}"
html_static_path = ["_static"]
html_css_files = ["tables.css"]  # long cell contents wrap (the card pages' checkpoint tables)
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# -- members documented ----------------------------------------------------------------
def _skip_inherited_from_dependencies(app, what, name, obj, skip, options):
    """Leave out methods defined by scikit-learn, torch or huggingface_hub base classes.

    Their docstrings point into those projects' own docs (glossary terms, labels) and are
    documented there; the pages list what this package defines.
    """
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "__func__", None), "__module__", "")
    if callable(obj) and module and not module.startswith("eegfm_sklearn"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_from_dependencies)
