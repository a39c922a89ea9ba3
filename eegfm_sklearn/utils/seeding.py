"""Seeded torch sections that other threads cannot disturb.

torch draws weight initialisation, dropout masks and DataLoader shuffling
from one process-wide generator per device, and none of these take a
per-call generator. Seeding that generator (``torch.manual_seed``) makes a
block reproducible only if no other thread draws from it meanwhile. So
every section of this package that draws from torch's global RNG, seeded
or not, runs under one process-wide re-entrant lock:

- a seeded section saves the generator's state, seeds it, runs alone and
  restores the state (the caller's RNG stream is left untouched);
- an unseeded section takes the lock too, so it cannot take numbers from
  the middle of another thread's seeded section.

Trade-off: fits running in threads serialize their RNG-consuming parts
(building the module; the whole training loop of a fine-tuning fit).
Inference (``transform``, ``predict``) draws nothing and still runs in
parallel, and processes are unaffected (each has its own generator). Code
outside this package that draws from torch's global RNG in another thread
is not covered: wrap it in ``with rng_lock():`` to make it wait its turn.
"""

from __future__ import annotations

import contextlib
import threading

import torch

_RNG_LOCK = threading.RLock()


def rng_lock():
    """The process-wide re-entrant lock held by every RNG-consuming section.

    Returns
    -------
    lock : threading.RLock
        Use as ``with rng_lock(): ...``.
    """
    return _RNG_LOCK


@contextlib.contextmanager
def rng_untouched(device=None):
    """Run a block whose draws from torch's RNG are overwritten anyway (a module rebuilt, then loaded).

    The generator's state is saved and restored: unpickling or loading an estimator leaves the
    caller's random stream where it was. The block holds the process-wide lock.
    """
    with _RNG_LOCK, torch.random.fork_rng(devices=_forked_devices(device)):
        yield


def _forked_devices(device):
    """CUDA device indices whose generator a seeded section must save and restore."""
    if device is None:
        return []
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def seeded(random_state, device=None):
    """Run a block that draws from torch's RNG, alone in the process.

    Parameters
    ----------
    random_state : int or None
        Seed of the block; None draws from the generator as it stands (the
        block still holds the lock, so it cannot disturb a seeded block in
        another thread).
    device : str or torch.device or None
        Device the block draws on; a CUDA device's generator is saved and
        restored too.
    """
    with _RNG_LOCK:
        if random_state is None:
            yield
            return
        with torch.random.fork_rng(devices=_forked_devices(device)):
            torch.manual_seed(int(random_state))
            yield
