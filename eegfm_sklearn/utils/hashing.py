"""Content digests of files: one owner for the weights' identity and the cache's keys."""

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
