"""Embedding cache: each window's embedding computed once per configuration.

A key has two parts: the *configuration* (card preprocessing, the SHA-256
of the weights' file contents or the random seed, every estimator param
that changes embeddings, the adapter plan) and the *window* (a hash of its
raw values). Folds of a cross-validation share configurations, so a window
embedded in one fold is read back in the next.

``MemoryStore`` lives in the process (shared by clones), bounded in bytes
with least-recently-used eviction. ``DirectoryStore`` writes one file per
window under ``<dir>/<config>/``, atomically (temp file + ``os.replace``),
so threads and joblib worker processes can share it. Every entry carries
its dtype, length and a checksum and is verified when read; a bad entry
is reported (:class:`CacheWarning`), deleted and recomputed. A folder that
cannot be written is reported once and the embeddings are computed
without caching.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import xxhash

from ._warn import user_stacklevel

DEFAULT_MEMORY_BYTES = 2**30

# Entry file: magic, dtype (4 ASCII bytes), length (uint32), 16-byte digest, values.
_MAGIC = b"EEGFMEM1"
_HEADER = struct.Struct("<8s4sI16s")
_DTYPE = np.dtype("<f4")


class CacheWarning(UserWarning):
    """A cache entry or folder could not be used; embeddings are recomputed."""


def window_hashes(X):
    """One hex digest per window of X (n_trials, n_chans, n_times), of its bytes.

    XXH3-128, fed the array's memory without a copy: every fold of a cross-validation hashes
    every window again, and XXH3 reads memory about ten times faster than SHA-256. The key
    guards against accidental reuse (2**-128 per pair), not against crafted collisions; the
    weights' identity, which names published files, stays SHA-256.
    """
    X = np.ascontiguousarray(X)
    head = f"{X.dtype.str}{X.shape[1:]}".encode()
    digests = []
    for window in X:
        h = xxhash.xxh3_128(head)
        h.update(memoryview(window).cast("B"))
        digests.append(h.hexdigest())
    return digests


def config_hash(config: dict) -> str:
    """Stable digest of a JSON-able configuration."""
    blob = json.dumps(config, sort_keys=True, default=repr).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _checked(value, shape):
    """``value`` if it is a finite float32 array of ``shape``, else None."""
    ok = (isinstance(value, np.ndarray) and value.dtype == _DTYPE and value.shape == tuple(shape)
          and bool(np.isfinite(value).all()))
    return value if ok else None


class MemoryStore:
    """Process-wide ``(config, window) -> embedding`` table, least recently used evicted first.

    Parameters
    ----------
    max_bytes : int
        Bound on the table's size (embeddings, keys and per-entry overhead,
        in bytes), enforced whenever entries are added.
    """

    _entries: OrderedDict = OrderedDict()
    _meta: OrderedDict = OrderedDict()
    _nbytes = 0
    _lock = threading.Lock()

    def __init__(self, max_bytes=DEFAULT_MEMORY_BYTES):
        self.max_bytes = max_bytes

    @staticmethod
    def _size(key, value):
        return sys.getsizeof(value) + sys.getsizeof(key) + 64  # array, key, table slot

    def get_meta(self, config):
        with self._lock:
            meta = self._meta.get(config)
            if meta is not None:
                self._meta.move_to_end(config)
            return meta

    def put_meta(self, config, meta):
        with self._lock:
            self._meta[config] = dict(meta)
            self._meta.move_to_end(config)
            while len(self._meta) > 4096:  # one per configuration; unseeded fits each make one
                self._meta.popitem(last=False)

    def get_many(self, config, keys, shape):
        out = []
        with self._lock:
            for k in keys:
                value = self._entries.get((config, k))
                if value is not None:
                    self._entries.move_to_end((config, k))
                out.append(None if value is None else _checked(value, shape))
        return out

    def put_many(self, config, keys, values):
        cls = type(self)
        with self._lock:
            for k, v in zip(keys, values):
                value = np.array(v, dtype=_DTYPE)  # owns its memory: a row must not pin its batch
                value.setflags(write=False)
                old = self._entries.pop((config, k), None)
                if old is not None:
                    cls._nbytes -= self._size(k, old)
                self._entries[(config, k)] = value
                cls._nbytes += self._size(k, value)
            while cls._nbytes > self.max_bytes and self._entries:
                (_, k), old = self._entries.popitem(last=False)
                cls._nbytes -= self._size(k, old)

    @classmethod
    def nbytes(cls):
        """Bytes the table holds now (as counted against ``max_bytes``)."""
        return cls._nbytes

    @classmethod
    def clear(cls):
        """Forget every cached embedding of this process."""
        with cls._lock:
            cls._entries.clear()
            cls._meta.clear()
            cls._nbytes = 0


_UNWRITABLE_REPORTED: set[str] = set()
_report_lock = threading.Lock()


class DirectoryStore:
    """``<directory>/<config>/<window>.emb`` files, safe across threads and processes."""

    def __init__(self, directory):
        self.directory = Path(directory)

    # -- meta -------------------------------------------------------------
    def get_meta(self, config):
        path = self.directory / config / "meta.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as err:
            self._cannot_use(err, "read")
            return None
        try:
            record = json.loads(text)
            meta = record["meta"]
            if record["checksum"] != _meta_checksum(meta) or not isinstance(meta, dict):
                raise ValueError("checksum mismatch")
        except (ValueError, KeyError, TypeError) as err:
            warnings.warn(f"Cache file {path} is corrupt ({err}); it is rebuilt.", CacheWarning,
                          stacklevel=user_stacklevel())
            self._remove(path)
            return None
        return meta

    def put_meta(self, config, meta):
        record = {"meta": meta, "checksum": _meta_checksum(meta)}
        self._write(self.directory / config, "meta.json", json.dumps(record).encode())

    # -- entries ----------------------------------------------------------
    def get_many(self, config, keys, shape):
        folder = self.directory / config
        out, bad = [], []
        for k in keys:
            path = folder / f"{k}.emb"
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                out.append(None)
                continue
            except OSError as err:
                self._cannot_use(err, "read")
                return [None] * len(keys)
            value = _decode(blob, shape)
            if value is None:
                bad.append(path)
            out.append(value)
        if bad:
            removed = sum(self._remove(p) for p in bad)
            warnings.warn(
                f"{len(bad)} cache entries under {folder} were damaged (truncated, empty, or not what was "
                f"written: checksum, dtype or length mismatch); {removed} removed, all recomputed.",
                CacheWarning, stacklevel=user_stacklevel())
        return out

    def put_many(self, config, keys, values):
        folder = self.directory / config
        for k, v in zip(keys, values):
            if not self._write(folder, f"{k}.emb", _encode(v)):
                return  # unwritable or full: the rest would fail the same way

    # -- files ------------------------------------------------------------
    def _write(self, folder, name, blob):
        """Write then rename, so a reader never sees a half-written file; False if it failed."""
        tmp = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, folder / name)
            return True
        except OSError as err:
            if tmp is not None:
                self._remove(Path(tmp))
            self._cannot_use(err, "write to")
            return False

    def _cannot_use(self, err, what):
        key = f"{what}:{self.directory}"
        with _report_lock:
            if key in _UNWRITABLE_REPORTED:
                return
            _UNWRITABLE_REPORTED.add(key)
        warnings.warn(
            f"Cannot {what} the cache folder {self.directory} ({type(err).__name__}: {err}); embeddings are "
            "computed without it. Give a folder you can write to with free space, or cache='memory' or None. "
            "(Reported once per folder in this process.)", CacheWarning, stacklevel=user_stacklevel())

    @staticmethod
    def _remove(path):
        try:
            path.unlink()
            return True
        except OSError:  # already gone, or a read-only folder
            return False


def _meta_checksum(meta):
    return hashlib.blake2b(json.dumps(meta, sort_keys=True).encode(), digest_size=16).hexdigest()


def _digest(dtype, n, payload):
    return hashlib.blake2b(dtype + struct.pack("<I", n) + payload, digest_size=16).digest()


def _encode(value):
    value = np.ascontiguousarray(value, dtype=_DTYPE).ravel()
    payload = value.tobytes()
    dtype = _DTYPE.str.encode().ljust(4)
    return _HEADER.pack(_MAGIC, dtype, value.size, _digest(dtype, value.size, payload)) + payload


def _decode(blob, shape):
    """The embedding in ``blob`` if it is intact and of ``shape``, else None."""
    if len(blob) < _HEADER.size:
        return None
    magic, dtype, n, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    n_expected = int(np.prod(shape))
    if (magic != _MAGIC or dtype != _DTYPE.str.encode().ljust(4) or n != n_expected
            or len(payload) != n * _DTYPE.itemsize or digest != _digest(dtype, n, payload)):
        return None
    return _checked(np.frombuffer(payload, dtype=_DTYPE).reshape(shape), shape)


def get_store(cache, max_bytes=DEFAULT_MEMORY_BYTES):
    """The store for an estimator's ``cache`` param (None = no cache).

    Parameters
    ----------
    cache : None or "memory" or str or os.PathLike
    max_bytes : int
        Bound of the memory store, in bytes.
    """
    if cache is None:
        return None
    if cache == "memory":
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
            raise ValueError(f"cache_max_bytes must be an int >= 0 (bytes); got {max_bytes!r}.")
        return MemoryStore(int(max_bytes))
    if isinstance(cache, (str, os.PathLike)):
        folder = Path(cache).expanduser()  # "~/x" is the home folder's x, not a folder named "~"
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cache={str(cache)!r} is a file, not a folder; give a folder path "
                             "(created if missing), 'memory' or None.")
        return DirectoryStore(folder)
    raise ValueError(f"cache={cache!r}; use None, 'memory' or a directory path.")
