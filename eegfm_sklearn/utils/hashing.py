"""Content digests of files and arrays: one owner for the weights' identity and the cache's keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Hashing a 600 MB checkpoint twice per fit is wasteful. The memo is keyed by inode and
# ctime too: rewriting a file changes its ctime even when size and mtime are restored, and
# replacing it changes its inode, so a memoised digest is never the old content's.
_MEMO: dict[tuple, str] = {}


def read_sha256(path) -> str:
    """SHA-256 hex digest of a file's content, read now."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file (memoised by path, size, mtime, inode and ctime).

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
    if key not in _MEMO:
        _MEMO[key] = read_sha256(path)
    return _MEMO[key]


def sha256_array(X) -> str:
    """SHA-256 hex digest of an array's bytes in C order, read in place.

    The digest of ``np.ascontiguousarray(X).tobytes()`` without that copy (a data set's size, to
    produce 64 characters): a C-contiguous array is fed as it is, another one row at a time.
    """
    import numpy as np

    X = np.asarray(X)
    h = hashlib.sha256()
    if X.flags.c_contiguous:
        h.update(memoryview(X).cast("B"))
    else:
        for row in X:
            h.update(memoryview(np.ascontiguousarray(row)).cast("B"))
    return h.hexdigest()
