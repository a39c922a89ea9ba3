"""Old import paths of modules that moved into ``preprocessing/`` and ``utils/``.

``import eegfm_sklearn.filtering`` (and the other names below) keeps working: a finder on
``sys.meta_path`` answers the old name with the module at its new place, imported only when
asked for.
"""

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    **{name: f"preprocessing.{name}" for name in
       ("adapter", "channels", "filtering", "resampling", "scaling", "streaming", "windowing")},
    **{name: f"utils.{name}" for name in ("_data_dir", "_warn", "cache", "progress", "seeding")},
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        self.module = importlib.import_module(self.target)
        self.spec = self.module.__spec__
        return self.module

    def exec_module(self, module):
        # Already executed at its new place; importlib stamped the old name's spec on it.
        module.__spec__ = self.spec


class _MovedFinder(importlib.abc.MetaPathFinder):
    def __init__(self, package):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        prefix = self.package + "."
        if not fullname.startswith(prefix) or fullname[len(prefix):] not in MOVED:
            return None
        new = prefix + MOVED[fullname[len(prefix):]]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install(package):
    """Answer the old module names under ``package`` (idempotent)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder(package))
