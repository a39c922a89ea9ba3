"""The per-window filters, resampling and crop as one matrix, for short windows.

Every step between the input and the card's scaling is linear along time and
the same for every window and channel: the notch/detrend projection, the
IIR high-pass (forward-backward with odd padding), the FIR low-pass with
reflected edges, the polyphase resampling and the crop. Together they are one
``(n_times_in, n_times_out)`` matrix ``A``, built once per (filters, ratio,
length) by running those very steps on the rows of the identity, and each
window becomes ``x @ A``: matrix products (a few windows each, one fixed
shape) instead of a recursive filter walking every row sample by sample.

It is used where it is cheaper: when the filters include an IIR stage (the
forward-backward ``sosfiltfilt`` in float64 took about half of SignalJEPA's
and a third of PBT's adapter on 4 s windows at 500 Hz; the product costs
less than the IIR alone) and ``A`` has at most ``MAX_ELEMENTS`` entries (long
windows keep the step-by-step path, whose cost grows linearly with the
length). FIR-only chains keep the steps too: their FFT low-pass and
polyphase resampling cost about what the product does. The result equals the
step-by-step path within float32 rounding (tested on EEGMAT). Building ``A``
costs 0.2-0.3 s CPU, once per process and layout.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .resampling import PolyphaseResampler

# Largest matrix (n_times_in x n_times_out) built: 16 MB in float32.
MAX_ELEMENTS = 2**22
# Rows of the identity pushed through the steps at once while building (bounds the temporaries).
BUILD_ROWS = 256
# Rows per product in ``apply_fused`` (whole windows): wide enough for the BLAS kernels.
BLOCK_ROWS = 152


def worth_fusing(filter_plan, n_times_in, n_times_out):
    """Whether ``x @ A`` beats the steps: an IIR stage in the filters and a matrix within ``MAX_ELEMENTS``."""
    if not filter_plan.active or n_times_in * n_times_out > MAX_ELEMENTS:
        return False
    return bool(filter_plan.window_highpass or filter_plan.iir_lowpass)


@functools.lru_cache(maxsize=4)  # at most 4 x 16 MB
def fused_matrix(filter_plan, up, down, n_times_in, n_times_out):
    """``A`` (n_times_in, n_times_out) as a float32 tensor: the filters, the resampling by ``up / down``, the crop.

    Cached: every fold of a cross-validation, and every estimator on the same rate and length,
    shares one (the plan compares by value). Callers must not write to it.
    """
    resampler = PolyphaseResampler(up, down, n_times_in) if (up, down) != (1, 1) else None
    out = np.empty((n_times_in, n_times_out), dtype=np.float32)
    for start in range(0, n_times_in, BUILD_ROWS):
        stop = min(start + BUILD_ROWS, n_times_in)
        rows = np.zeros((stop - start, 1, n_times_in), dtype=np.float32)
        rows[np.arange(stop - start), 0, np.arange(start, stop)] = 1.0
        y = filter_plan.filter_windows(rows)
        if resampler is not None:
            y = resampler(y)
        out[start:stop] = y[:, 0, :n_times_out]
    return torch.from_numpy(out)


def windows_per_product(n_chans):
    """Windows per matrix product: about ``BLOCK_ROWS`` rows, whole windows, fixed for a channel count."""
    return max(1, round(BLOCK_ROWS / max(n_chans, 1)))


def apply_fused(A, X):
    """``X @ A`` for windows ``X`` (n_windows, n_chans, n_times_in) in float32, in products of one fixed shape.

    The windows go through ``torch.mm`` ``windows_per_product(n_chans)`` at a time, the last group
    padded with zero windows, so every product has the same shape whatever the batch: a window's
    result does not depend on how many windows are beside it (BLAS libraries choose their blocking,
    and so the order of a sum's terms, by a product's shape; ``torch.bmm`` over the batch or one
    product over all rows would change a window's last bits with the batch size). About
    ``BLOCK_ROWS`` rows per product run the BLAS kernels at full width: one window (19 rows) per
    product took 1.6-1.8x the time. torch's thread pool: the estimator's ``n_threads``.
    """
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    n_windows, n_chans, n_in = x.shape
    rows = windows_per_product(n_chans) * n_chans
    flat = x.reshape(n_windows * n_chans, n_in)
    if len(flat) % rows:  # zero windows up to a whole number of products
        flat = torch.cat([flat, flat.new_zeros((rows - len(flat) % rows, n_in))])
    out = torch.empty((len(flat), A.shape[1]), dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, len(flat), rows):
            torch.mm(flat[start:start + rows], A, out=out[start:start + rows])
    return out[: n_windows * n_chans].view(n_windows, n_chans, A.shape[1]).numpy()
