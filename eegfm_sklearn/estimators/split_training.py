"""Fine-tuning on split trials with bounded memory.

A trial cut into ``n_sub`` sub-windows is ``n_sub`` windows for the backbone (up to 100 times the
trial's samples with ``split_overlap``). Adapting the whole training set up front, or forwarding a
batch's ``batch_size * n_sub`` windows at once with their activations kept for the backward pass,
grows with that redundancy: 64 trials of 60 s at 200 Hz with 301 sub-windows each are 19,264 LaBraM windows
per batch. Here skorch trains on trial indices; each batch's sub-windows are cut, adapted and
forwarded ``max_windows`` at a time, as the inference path does. When a batch takes several such
chunks, each chunk is recomputed in the backward pass (``torch.utils.checkpoint``), so only one
chunk's activations and adapted sub-windows are held at a time; the gradients are those of the
whole batch. A backbone with batch norm is not recomputed (that would update its running
statistics twice): its chunks keep their activations, as one batch would.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def window_chunks(n_trials, n_sub, max_windows):
    """(trials, sub-windows) slices of at most ``max_windows`` windows, trial-major, covering a batch.

    Whole trials, several at a time, when a trial's ``n_sub`` sub-windows fit; otherwise one trial
    at a time, its sub-windows ``max_windows`` at a time.
    """
    max_windows = max(1, int(max_windows))
    if n_sub <= max_windows:
        step = max(1, max_windows // n_sub)
        return [(slice(t, t + step), slice(None)) for t in range(0, n_trials, step)]
    return [(slice(t, t + 1), slice(a, a + max_windows)) for t in range(n_trials) for a in range(0, n_sub, max_windows)]


def prefilter(adapter, X, chunk=32):
    """X filtered once by the adapter's filters, float32 (one copy of the input), or None without filters.

    Each chunk of sub-windows is otherwise cut from its whole trial filtered again (the filters run
    on whole trials, before the split): ``n_sub / max_windows`` times per trial and epoch, twice
    with the recomputation.
    """
    if not adapter.filter_plan_.active:
        return None
    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, len(X), chunk):
        out[start : start + chunk] = adapter.filter_plan_.filter_windows(X[start : start + chunk])
    return out


class SplitTrialsModule(nn.Module):
    """Train ``module`` on trials of ``X`` given by index, their sub-windows adapted chunk by chunk.

    Parameters
    ----------
    module : CardModule
        Trained in place (its parameters are this module's).
    adapter : InputAdapter
        Fitted, with a split (``n_sub_ > 1``).
    X : ndarray, shape (n_trials, n_chans, n_times_in)
        The validated training trials, in input units (not copied).
    max_windows : int
        Sub-windows adapted and forwarded at once (the estimator's ``batch_size``).
    prefiltered : bool
        ``X`` was already filtered by ``adapter.filter_plan_`` (see :func:`prefilter`).

    Notes
    -----
    ``forward(idx)`` takes a batch of trial indices (skorch iterates over ``np.arange(n_trials)``)
    and returns one row per trial, the sub-windows' outputs pooled by ``module.pool_trials``.
    """

    def __init__(self, module, adapter, X, max_windows, prefiltered=False):
        super().__init__()
        self.module = module
        self.adapter = adapter
        self.X = X
        self.max_windows = int(max_windows)
        self.prefiltered = bool(prefiltered)
        self._batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())

    def _chunk(self, trials, part, anchor):
        # anchor: a tensor on the module's device, so that checkpoint saves and restores that device's RNG
        Xt = self.adapter.transform(self.X[trials], prefiltered=self.prefiltered, part=part)
        return self.module(torch.from_numpy(Xt).to(anchor.device))

    def forward(self, idx):
        rows = np.asarray(idx.detach().cpu()).astype(np.int64).ravel()
        anchor = next(self.module.parameters()).new_empty(0)
        chunks = window_chunks(len(rows), self.adapter.n_sub_, self.max_windows)
        recompute = len(chunks) > 1 and torch.is_grad_enabled() and not self._batch_norm
        outs = []
        for trials, part in chunks:
            run = partial(self._chunk, rows[trials], part)
            outs.append(checkpoint(run, anchor, use_reentrant=False) if recompute else run(anchor))
        return self.module.pool_trials(torch.cat(outs), self.adapter.n_sub_)
