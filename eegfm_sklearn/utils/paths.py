"""Why a path cannot be opened, in words: missing, a symbolic link loop, or a link to nowhere."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def why_missing(path) -> str:
    """The reason ``path`` is neither a file nor a folder, as a phrase ("does not exist", ...)."""
    path = Path(path)
    if not path.is_symlink():
        return "does not exist"
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
        return "is a symbolic link loop (it points back to itself); fix or remove the link"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link loop (it points back to itself); fix or remove the link"
        return f"is a symbolic link to {os.readlink(path)!r}, which does not exist"
    return "does not exist"
