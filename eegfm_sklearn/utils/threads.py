"""One thread setting for torch and for the native pools under numpy/scipy.

The adapter's filters and products run in numpy/scipy, whose BLAS
(OpenBLAS) and OpenMP keep thread pools of their own, sized to every core
whatever ``torch.set_num_threads`` says. Beside a busy core (another
process, a cross-validation worker) those threads wait on each other: the
same adapter call took from 18 ms to 800 ms (measured, 2 cores).
:func:`limited_threads` sizes torch's intra-op pool and, through
``threadpoolctl``, every BLAS/OpenMP pool to one number for the duration of
a block, and puts the previous sizes back afterwards.

Both settings are process-wide (torch and the native libraries have no
per-thread setting): two blocks entered from different threads at once
with different numbers leave whichever was set last until both exit.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_LOCK = threading.Lock()
_CONTROLLER = None


def _controller():
    # Inspecting the loaded libraries costs ~3 ms; done once (numpy, scipy and torch are loaded by then).
    global _CONTROLLER
    with _LOCK:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER


def resolve_threads(n_threads):
    """The number of threads ``n_threads`` means: None is torch's current setting."""
    import torch

    return torch.get_num_threads() if n_threads is None else int(n_threads)


@contextmanager
def limited_threads(n_threads):
    """Run the block with ``n_threads`` threads in torch and in every BLAS/OpenMP pool.

    Parameters
    ----------
    n_threads : int or None
        Threads for the block; None: torch's current ``torch.get_num_threads()``
        (the native pools follow it).
    """
    import torch

    n = resolve_threads(n_threads)
    previous = torch.get_num_threads()
    with _controller().limit(limits=n):
        if n != previous:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if n != previous:
                torch.set_num_threads(previous)
