"""Where the package looks for recordings on disk, and what it says when they are not there."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "EEGFM_DATA_DIR"
# Set to 1 to never download recordings (fail at once with DataNotFoundError instead).
OFFLINE_ENV = "EEGFM_OFFLINE"
FALLBACK_DIR = Path("~") / "eegfm_data"


class DataNotFoundError(FileNotFoundError):
    """Recordings are not on disk and could not be downloaded now.

    The message says which files were looked for in which folder, why that
    folder, and the ways to provide them. Example scripts print it alone
    (no traceback) and exit with status 1.
    """


def get_data_dir(data_dir=None) -> Path:
    """Return the folder holding recordings.

    Parameters
    ----------
    data_dir : str or Path or None
        Explicit folder. If None, the ``EEGFM_DATA_DIR`` environment variable,
        else ``../shared/data`` relative to the current directory when that
        folder exists, else ``~/eegfm_data``.

    Returns
    -------
    path : Path
        The folder (it may not exist yet; fetchers create it).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    shared = Path.cwd().parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return FALLBACK_DIR.expanduser()


def data_dir_origin(data_dir=None) -> str:
    """Why :func:`get_data_dir` chose its folder, in words (for error messages)."""
    if data_dir is not None:
        return "the data_dir argument"
    if os.environ.get(DATA_DIR_ENV):
        return f"${DATA_DIR_ENV}"
    if (Path.cwd().parent / "shared" / "data").is_dir():
        return f"../shared/data next to the current folder, as ${DATA_DIR_ENV} is unset"
    return f"the fallback {FALLBACK_DIR}, as ${DATA_DIR_ENV} is unset and no ../shared/data exists"


def downloads_off() -> bool:
    """Whether ``EEGFM_OFFLINE`` forbids downloading recordings."""
    return os.environ.get(OFFLINE_ENV, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
