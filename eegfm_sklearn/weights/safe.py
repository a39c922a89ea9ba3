"""Code-free reading of weight files.

Nothing here executes code stored in a file: ``.safetensors`` files are
read with safetensors; pickled torch files with ``torch.load(...,
weights_only=True)`` and an explicit, minimal allow-list. Anything else a
pickle asks for is refused with :class:`UnsafeCheckpointError`.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path

from .errors import UnsafeCheckpointError, WeightsError

_SAFETENSORS_SUFFIXES = (".safetensors",)
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # pickle protocol >= 2, how torch.save's legacy format starts

# In-process cache: hashing a 600 MB file twice per fit is wasteful.
# Keyed by inode and ctime too: rewriting a file changes its ctime even when
# size and mtime are restored (cache keys re-hash the content anyway).
_HASH_CACHE: dict[tuple, str] = {}


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file (cached by path, size, mtime, inode and ctime).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    digest : str
        64 lower-case hex characters.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


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
        raise _unsafe(path, err, safe_globals) from None
    except Exception as err:  # RuntimeError (zip), EOFError, IndexError...
        raise _corrupt(path, err) from None
