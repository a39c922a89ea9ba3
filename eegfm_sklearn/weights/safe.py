"""Code-free reading of weight files.

Nothing here executes code stored in a file: ``.safetensors`` files are
read with safetensors; pickled torch files with ``torch.load(...,
weights_only=True)`` and an explicit, minimal allow-list. A torch file whose
pickle names anything else (a Lightning checkpoint's scheduler state holding
a bound method, say) is read again by an inert unpickler: what the
allow-list holds is rebuilt as ``weights_only`` would, every other name
becomes an :class:`Inert` placeholder that records what the file asked for
and is never imported nor called. A file that still cannot be read is
refused with :class:`UnsafeCheckpointError`.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

from ..utils.hashing import sha256_file  # noqa: F401  (re-exported)
from .errors import UnsafeCheckpointError, WeightsError

_SAFETENSORS_SUFFIXES = (".safetensors",)
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # pickle protocol >= 2, how torch.save's legacy format starts

def _looks_like_safetensors(path: Path) -> bool:
    if path.suffix in _SAFETENSORS_SUFFIXES:
        with open(path, "rb") as f:
            head = f.read(9)
        # safetensors: an 8-byte length then "{" (its first byte may well be 0x80, as a pickle's)
        if head[8:9] != b"{" and (head.startswith(_ZIP_MAGIC) or head[:1] == _PICKLE_PROTO):
            kind = "zip" if head.startswith(_ZIP_MAGIC) else "pickle"
            raise WeightsError(
                f"{str(path)!r} is a torch checkpoint ({kind}), not safetensors, despite its name; rename it "
                f"to {path.with_suffix('.pt').name!r} (it is then read without running code), or convert it.")
        return True
    # Sniff: 8-byte little-endian header length, then a JSON object.
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and not head.startswith(_ZIP_MAGIC)


def _corrupt(path, err) -> WeightsError:
    return WeightsError(
        f"Could not read weight file {str(path)!r}: it looks truncated or "
        f"corrupt ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
        "Delete it (a Hugging Face file: its blob in the cache, e.g. with "
        "`hf cache delete`) and download it again."
    )


def _unsafe(path, err, safe_globals) -> UnsafeCheckpointError:
    import torch

    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint: the opcode scan cannot run
        found = []
    allowed = {f"{c.__module__}.{c.__qualname__}" for c in safe_globals}
    found = [g for g in found if g not in allowed]
    what = f"objects {found}" if found else "pickle content beyond plain tensors"
    return UnsafeCheckpointError(
        f"Refused to load {str(path)!r}: unpickling it needs {what}, which "
        "could run arbitrary code. Only tensors, containers and "
        f"{sorted(allowed)} are accepted. If you trust the file, convert it "
        "once, in a separate session: load it with torch.load allowing full "
        "unpickling (only for a file you trust), take its state dict and write it with "
        "safetensors.torch.save_file(state_dict, 'model.safetensors'); then "
        "pass that file."
    )


class Inert:
    """Stands for an object a pickle names outside the allow-list; never imported nor called.

    Attributes
    ----------
    name : str
        ``"module.qualname"`` the file asked for.
    args : tuple
        What the pickle would have called it with (themselves inert or plain).
    state : object
        What the pickle would have set on the result.
    """

    __slots__ = ("args", "items", "name", "state")

    def __init__(self, name, args=(), state=None):
        self.name, self.args, self.state, self.items = name, args, state, []

    # What the pickle machine may do to the object it built (SETITEM(S),
    # APPEND(S)): recorded, nothing else.
    def __setitem__(self, key, value):
        self.items.append((key, value))

    def append(self, value):
        self.items.append(value)

    def extend(self, values):
        self.items.extend(values)

    def __call__(self, *args, **kwargs):
        # An inert result called in turn (a method fetched by getattr, then called).
        result = Inert(f"{self.name}()", args)
        result.items.append(self)  # what was called stays on record
        return result

    def __repr__(self):
        return f"<inert {self.name}>"


def _inert_class(name):
    # A fresh class per name: the pickle machine calls it (REDUCE) or its __new__
    # (NEWOBJ) and then __setstate__ (BUILD); each only records.
    def new(cls, *args, **kwargs):
        return Inert(name, args)

    return type("InertGlobal", (), {"__new__": new, "__repr__": lambda self: f"<inert {name}>",
                                    "inert_name": name})


def _setstate(self, state):
    self.state = state


Inert.__setstate__ = _setstate


def _inert_pickle_module(allowed):
    """A ``pickle_module`` for ``torch.load``: the allow-list rebuilt, every other name inert."""
    import types

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            full = f"{module}.{name}"
            if full in allowed:
                return allowed[full]
            return _inert_class(full)

    def load(f, **kwargs):
        return Unpickler(f, **kwargs).load()

    return types.SimpleNamespace(__name__="eegfm_inert_pickle", Unpickler=Unpickler, load=load)


def _allowed_globals(safe_globals):
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = dict(_get_allowed_globals())
    allowed.update({f"{c.__module__}.{c.__qualname__}": c for c in safe_globals})
    return allowed


def inert_names(obj):
    """Names of the objects left inert anywhere in ``obj`` (sorted, unique).

    Parameters
    ----------
    obj : object
        What :func:`read_weight_file` returned.

    Returns
    -------
    names : list of str
    """
    found, stack, seen = set(), [obj], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Inert):
            found.add(item.name)
            stack += [*item.args, item.state, *item.items]
        elif hasattr(type(item), "inert_name"):
            found.add(type(item).inert_name)
        elif isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack += list(item)
    return sorted(found)


def _read_inert(path, safe_globals):
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        warnings.filterwarnings("ignore", category=FutureWarning)
        return torch.load(str(path), map_location="cpu", weights_only=False,
                          pickle_module=_inert_pickle_module(_allowed_globals(safe_globals)))


def read_weight_file(path, safe_globals=()):
    """Read a weight file without executing code from it.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file, or a torch pickle (``.pt``, ``.pth``,
        ``.bin``, ``.ckpt``; zip or legacy format).
    safe_globals : tuple of type
        Plain-data classes allowed besides tensors and containers (a card's
        ``safe_globals``, e.g. LaBraM's ``argparse.Namespace``).

    Returns
    -------
    obj : object
        A dict of tensors (safetensors) or whatever plain container the
        torch file holds (state dict, ``{'model': ..., 'args': ...}``...).

    Raises
    ------
    UnsafeCheckpointError
        If the pickle needs anything outside the allow-list.
    WeightsError
        If the file is missing, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        from ..utils.paths import why_missing

        raise WeightsError(f"Weight file {str(path)!r} {why_missing(path)}.")
    if path.stat().st_size == 0:
        raise WeightsError(f"Weight file {str(path)!r} is empty; download it again.")
    if _looks_like_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as err:  # SafetensorError, OSError
            raise _corrupt(path, err) from None
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(_ZIP_MAGIC) and head[:1] != _PICKLE_PROTO:
        raise WeightsError(
            f"{str(path)!r} is not a weight file: it is neither safetensors nor a torch checkpoint "
            f"(zip or pickle; it starts with bytes {head!r}). Check that you passed the right file."
        )
    import torch

    try:
        with torch.serialization.safe_globals(list(safe_globals)), warnings.catch_warnings():
            # Protocol notes on plain pickles are noise: refusal is what counts.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "truncated" in str(err).lower():
            raise _corrupt(path, err) from None
        refusal = err
    except Exception as err:  # RuntimeError (zip), EOFError, IndexError...
        raise _corrupt(path, err) from None
    try:
        return _read_inert(path, safe_globals)
    except Exception:  # noqa: BLE001 - e.g. a plain pickle.dump of tensors: their storages would need code
        raise _unsafe(path, refusal, safe_globals) from None
