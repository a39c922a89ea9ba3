"""Recordings opened for streaming: any file ``mne.io.read_raw`` reads, not preloaded."""

from __future__ import annotations

from pathlib import Path


def read_raw(path):
    """The recording, not preloaded; clear errors for a missing or unreadable file."""
    import mne

    path = Path(path)
    if not path.is_file():
        from ..utils.paths import why_missing

        reason = why_missing(path)
        raise FileNotFoundError(f"{path}: no such file." if reason == "does not exist" else f"{path} {reason}.")
    try:
        return mne.io.read_raw(path, preload=False, verbose="error")
    except ValueError as err:
        raise ValueError(f"{path}: mne cannot read it ({' '.join(str(err).split())}).") from None
