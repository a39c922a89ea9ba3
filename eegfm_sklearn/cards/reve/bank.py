"""REVE's electrode position bank, found without the network.

braindecode's ``REVE`` builds a ``RevePositionBank`` in its constructor, which
downloads ``positions.json`` from the ``brain-bzh/reve-positions`` Hub repo
(through pooch) unless ``reve_positions.json`` already sits in the folder
named by ``REVE_POSITIONS_PATH`` (mne config or environment; else ``MNE_DATA``
or ``~/mne_data``). The bank maps channel names to (x, y, z) in metres, in the
*native* frame of mne's template 10-05 montage (``standard_1005``, now
``colin27_1005``: MRI surface RAS of the Colin27 head), not mne's head frame:
the values quoted from the published file for Cz, TP9, AF7, AF8 and TP10
equal the template's native coordinates to the 3-4 decimals quoted, while
head-frame ones differ by up to 4 cm.

This card never needs the bank in its forward pass: it gives REVE every
channel's position (recording, ``montage=`` or the template by name, head
frame) moved into the bank's frame (:func:`to_bank_frame`) as REVE's
``default_pos``. The bank is still built, for braindecode's
``get_positions``, from the first of, all local: braindecode's prefetched
file, the Hugging Face cache of ``brain-bzh/reve-positions``, or the
template's native coordinates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BANK_REPO = "brain-bzh/reve-positions"
BANK_HUB_FILE = "positions.json"
BANK_FILE = "reve_positions.json"


def braindecode_bank_file() -> Path:
    """Where braindecode looks for a prefetched bank (no folder is created)."""
    import mne

    folder = mne.get_config("REVE_POSITIONS_PATH", mne.get_config("MNE_DATA"))
    home = Path(os.getenv("_MNE_FAKE_HOME_DIR", "~")).expanduser()
    folder = Path(folder).expanduser() if folder else home / "mne_data"
    return folder / BANK_FILE


def hub_cache_file():
    """The bank in the Hugging Face cache, or None (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(BANK_REPO, BANK_HUB_FILE)
    return Path(found) if isinstance(found, (str, os.PathLike)) else None


def _read(path):
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"REVE's position bank {path} is unreadable ({err}); delete it or replace it by "
                         f"{BANK_REPO}'s {BANK_HUB_FILE}.") from None
    return {str(k): [float(c) for c in v] for k, v in table.items()}


def template_table():
    """Names -> native-frame positions (m) of mne's template 10-05 montage (the bank's frame)."""
    from ...preprocessing.montage import standard_montage

    return {name: [float(c) for c in pos] for name, pos in standard_montage().get_positions()["ch_pos"].items()}


def to_bank_frame(positions):
    """Head-frame positions (n, 3), m -> the bank's frame (the template's native frame).

    mne's head frame is set by each head's fiducials; the template's own
    native->head transform is inverted, so template positions land exactly
    on the bank's coordinates and a recording's on the template head's.
    """
    import mne
    import numpy as np

    from ...preprocessing.montage import standard_montage

    head_t = mne.channels.compute_native_head_t(standard_montage())
    return mne.transforms.apply_trans(np.linalg.inv(head_t["trans"]), np.asarray(positions, dtype=float))


def load_table():
    """``(names -> [x, y, z], where)`` from the first local source."""
    for path in (braindecode_bank_file(), hub_cache_file()):
        if path is not None and Path(path).is_file():
            return _read(path), str(path)
    return template_table(), "mne's template 10-05 montage"
