"""Where the package looks for recordings on disk."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "EEGFM_DATA_DIR"


def get_data_dir(data_dir=None) -> Path:
    """Return the folder holding recordings.

    Parameters
    ----------
    data_dir : str or Path or None
        Explicit folder. If None, the ``EEGFM_DATA_DIR`` environment variable,
        else ``../shared/data`` relative to the current directory, else
        ``~/eegfm_data``.

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
    return Path.home() / "eegfm_data"
