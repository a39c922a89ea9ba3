"""braindecode's REVE, built offline with the channels' positions as its default.

``REVE.__init__`` always builds its position bank, which downloads on a
cache miss; the bank class is swapped for one filled from local sources
(:mod:`.bank`) while ``REVE.__init__`` runs. Positions come in through
``chs_info`` (``loc[:3]``, metres, in the bank's frame: see :mod:`.bank`) and
become REVE's ``default_pos``, so ``forward(x)`` needs no ``pos``.
"""

from __future__ import annotations

import threading

import torch
from braindecode.models import REVE
from braindecode.models import reve as braindecode_reve
from torch import nn

_CONSTRUCTING = threading.Lock()


class OfflinePositionBank(nn.Module):
    """``RevePositionBank``'s interface over a table read from local sources only."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        from .bank import load_table

        table, self.source = load_table()
        self.position_names = list(table)
        self.mapping = {name: i for i, name in enumerate(self.position_names)}
        self.register_buffer("embedding", torch.tensor(list(table.values()), dtype=torch.float32).reshape(-1, 3),
                             persistent=False)

    forward = braindecode_reve.RevePositionBank.forward
    get_all_positions = braindecode_reve.RevePositionBank.get_all_positions


class REVEOffline(REVE):
    """``REVE`` whose construction reads no network and takes positions from ``chs_info``.

    Parameters
    ----------
    chs_info : list of dict
        One ``{"ch_name": str, "loc": array (12,)}`` per input channel, as
        mne's ``info["chs"]``; ``loc[:3]`` is the position (m, in the position bank's frame).
    **kwargs
        REVE's other arguments.
    """

    def __init__(self, *args, chs_info=None, **kwargs):
        with _CONSTRUCTING:
            original = braindecode_reve.RevePositionBank
            braindecode_reve.RevePositionBank = OfflinePositionBank
            try:
                super().__init__(*args, **kwargs)
            finally:
                braindecode_reve.RevePositionBank = original
        if chs_info is not None:
            self._chs_info = chs_info
            self.default_pos = torch.tensor([list(ch["loc"][:3]) for ch in chs_info], dtype=torch.float32)
