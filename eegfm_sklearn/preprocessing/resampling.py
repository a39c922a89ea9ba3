"""Polyphase resampling of fixed-length windows, for any pair of rates.

Two parts:

* :func:`choose_ratio` turns two rates into integers ``up / down``. Real
  rates are rarely simple fractions (173.61 Hz, or MEGIN's 300.307 and
  600.615 Hz, whose exact ratios to 200 Hz have denominators in the tens of
  thousands), so it takes the smallest ``max(up, down)`` whose rate error is
  at most ``RATE_TOLERANCE``, searching factors up to ``MAX_FACTOR``; exact
  ratios (500 -> 200 Hz is 2/5) have no error. The error is stated by the
  adapter.
* :class:`PolyphaseResampler` applies mne's polyphase filter for that ratio
  (``mne.filter.resample(..., method="polyphase")``, i.e.
  ``scipy.signal.resample_poly``: a Kaiser(5.0) windowed-sinc low-pass of
  ``20 * max(up, down) + 1`` taps, reflected edges), to float32 precision.
  Only ``~20 * max(up, down) / up`` of those taps touch each output (a
  tenth of a second of input), and that is all it computes, whatever the
  size of ``up`` and ``down``: the ``up`` filter phases are grouped by
  where they read, each group is one small matrix, and all groups run as
  one batched matrix product over a strided view of the windows (no
  per-phase loop, no copy of the input per phase). scipy's ``upfirdn``
  instead walks rows one by one in float64.

The output keeps scipy's length, ``ceil(n_times_in * up / down)``, and the
ratio is the chosen ``up / down`` whatever the window length (mne derives
it from the window's rounded output length instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np
import torch
from scipy.signal import firwin

# Largest up or down factor searched: the filter has at most 20 * MAX_FACTOR + 1 taps
# (about 330 000), its kernel at most ~40 * MAX_FACTOR floats (2.6 MB).
MAX_FACTOR = 16_384
# Rate errors below this are not worth a larger factor: 1 ppm is 60 µs over a minute,
# below the clock tolerance of EEG amplifiers (tens of ppm).
RATE_TOLERANCE = 1e-6
# Largest gathered copy of the input one batched product reads (float32).
BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Ratio:
    """A resampling ratio and how far it is from the exact one.

    Attributes
    ----------
    up, down : int
        Co-prime factors; the output rate is ``sfreq_in * up / down``.
    rate_error : float
        ``(sfreq_in * up / down) / sfreq_out - 1``: relative error of the
        output rate (the signal is time-stretched by this fraction).
    """

    up: int
    down: int
    rate_error: float

    @property
    def n_taps(self):
        """Length of the anti-aliasing filter (``20 * max(up, down) + 1``)."""
        return 20 * max(self.up, self.down) + 1


def choose_ratio(sfreq_in, sfreq_out, tolerance=RATE_TOLERANCE, max_factor=MAX_FACTOR):
    """The simplest ``up / down`` that resamples ``sfreq_in`` to ``sfreq_out``.

    Parameters
    ----------
    sfreq_in, sfreq_out : float
        Rates in Hz, positive.
    tolerance : float
        Largest acceptable relative rate error; among the ratios meeting
        it, the one with the smallest ``max(up, down)`` (the shortest
        filter) is taken.
    max_factor : int
        Largest ``up`` or ``down`` considered. If no ratio within it meets
        ``tolerance``, the most accurate one is taken.

    Returns
    -------
    ratio : Ratio
    """
    target = float(sfreq_out) / float(sfreq_in)
    down = np.arange(1, max_factor + 1, dtype=np.float64)
    up = np.rint(target * down)
    ok = (up >= 1) & (up <= max_factor)
    if not ok.any():
        raise ValueError(f"Cannot resample {sfreq_in:g} Hz to {sfreq_out:g} Hz with factors up to "
                         f"{max_factor}; the rates are too far apart.")
    down, up = down[ok], up[ok]
    error = np.abs(up / (down * target) - 1.0)
    meets = np.flatnonzero(error <= tolerance)
    best = meets[np.argmin(np.maximum(up, down)[meets])] if meets.size else int(np.argmin(error))
    u, d = int(up[best]), int(down[best])
    g = gcd(u, d)
    u, d = u // g, d // g
    return Ratio(u, d, u / (d * target) - 1.0)


# Steps are merged where a product has fewer than MERGE_BELOW columns, up to MERGE_COLUMNS, reading
# at most MERGE_EXTRA times more columns (measured: 1/2 and 2/5 gain 2-10x, 16/25 with 16 columns loses).
MERGE_BELOW = 8
MERGE_COLUMNS = 64
MERGE_EXTRA = 1.5


def _merge_factor(n_slots, down, span):
    """How many consecutive steps one product computes (1: none merged)."""
    if n_slots >= MERGE_BELOW:
        return 1
    by_width = MERGE_COLUMNS // n_slots
    by_reads = int(MERGE_EXTRA * span) // down + 1
    return max(1, min(by_width, by_reads))


class PolyphaseResampler:
    """Resample the last axis by ``up / down`` (both already reduced).

    Parameters
    ----------
    up, down : int
        Co-prime factors: the output rate is ``sfreq * up / down``.
    n_times_in : int
        Length of the windows it will be applied to.

    Attributes
    ----------
    n_times_out : int
        ``ceil(n_times_in * up / down)``, as ``scipy.signal.resample_poly``.
    n_taps : int
        Filter length, ``20 * max(up, down) + 1``.
    taps_per_output : int
        Input samples that weigh on one output sample.
    macs_per_output : float
        Multiply-adds actually computed per output sample (the grouping
        computes a few zeros besides ``taps_per_output``).
    """

    def __init__(self, up, down, n_times_in):
        up, down, n = int(up), int(down), int(n_times_in)
        self.up, self.down, self.n_times_in = up, down, n
        self.n_times_out = -(-n * up // down)
        half = 10 * max(up, down)
        h = firwin(2 * half + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
        self.n_taps = h.size
        # Output k = q * up + p reads inputs q * down + r, r in [r_lo[p], r_hi[p]], with tap
        # h[half + p * down - r * up] (scipy's upfirdn, centred).
        phase = np.arange(up)
        r_lo = -((half - phase * down) // up)
        r_hi = (phase * down + half) // up
        self.left = int(-r_lo[0])
        width = int((r_hi - r_lo).max()) + 1
        self.taps_per_output = width
        # Group phases by where they start reading (column = r + left): a group spans at most
        # 2 * width columns, so the zeros computed stay about as many as the taps.
        col = r_lo + self.left
        group = col // width
        self.n_groups = int(group[-1]) + 1
        order = np.argsort(group, kind="stable")
        starts = np.searchsorted(group[order], np.arange(self.n_groups))
        slot = np.empty(up, dtype=int)
        slot[order] = np.arange(up) - starts[group[order]]
        self.n_slots = int(slot.max()) + 1
        self.span = int((r_hi + self.left - group * width).max()) + 1  # columns read by a group
        self.group_stride = width
        kernel = np.zeros((self.n_groups, self.span, self.n_slots))
        j = np.arange(width)
        r = r_lo[:, None] + j[None, :]
        valid = r <= r_hi[:, None]
        taps = np.where(valid, half + phase[:, None] * down - r * up, 0)
        rows = np.broadcast_to(group[:, None], r.shape)[valid]
        cols = (r + self.left - group[:, None] * width)[valid]
        slots = np.broadcast_to(slot[:, None], r.shape)[valid]
        kernel[rows, cols, slots] = h[taps[valid]]
        # Few slots make a thin product (2 columns for 2/5, 1 for 1/2), slow per multiply-add:
        # ``merge`` consecutive steps become one, their kernels side by side, each shifted by ``down``
        # (a few more zeros computed, a product ``merge`` times wider).
        self.merge = _merge_factor(self.n_slots, down, self.span)
        if self.merge > 1:
            merged = np.zeros((self.n_groups, self.span + (self.merge - 1) * down, self.merge * self.n_slots))
            for t in range(self.merge):
                merged[:, t * down : t * down + self.span, t * self.n_slots : (t + 1) * self.n_slots] = kernel
            kernel, self.span = merged, merged.shape[1]
        self.kernel = torch.from_numpy(kernel.astype(np.float32))  # (group, column, merged step x slot)
        self.macs_per_output = self.n_groups * self.span * self.n_slots / up
        position = group * self.n_slots + slot  # where phase p lands in the groups' output
        if np.array_equal(position, phase):  # phases already in order: keep the first ``up`` columns
            self.position = slice(0, up)
        else:
            self.position = torch.from_numpy(position)
        self.n_steps = -(-self.n_times_out // (up * self.merge))  # (merged) steps
        # Kept outputs read up to input n_max; reflect up to there, zeros beyond (only
        # discarded outputs of the last step read them).
        n_max = ((self.n_times_out - 1) * down + half) // up
        self.right = max(n_max - (n - 1), 0)
        self.padded_length = (self.n_steps - 1) * self.merge * down + (self.n_groups - 1) * width + self.span
        if max(self.left, self.right) >= n:
            raise ValueError(
                f"Windows of {n} samples are too short to resample by {up}/{down}: the filter "
                f"reaches {max(self.left, self.right)} samples past each edge. Use windows of at "
                f"least {max(self.left, self.right) + 1} samples."
            )

    def __call__(self, X):
        """Resample windows.

        Parameters
        ----------
        X : ndarray of float32, shape (n_trials, n_chans, n_times_in)

        Returns
        -------
        Xr : ndarray of float32, shape (n_trials, n_chans, n_times_out)
        """
        n_trials, n_chans, n_times = X.shape
        if n_times != self.n_times_in:
            raise ValueError(f"Expected windows of {self.n_times_in} samples, got {n_times}.")
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(-1, n_times)
        # rows padded and resampled a block at a time: a padded copy of the whole input (hours of
        # EEG) would be the largest allocation of the adapter
        block = max(1, BLOCK_BYTES // (4 * self.padded_length))
        if block >= len(x):
            return self._rows(x).reshape(n_trials, n_chans, -1).numpy()
        out = np.empty((len(x), self.n_times_out), dtype=np.float32)
        for r in range(0, len(x), block):
            out[r : r + block] = self._rows(x[r : r + block]).numpy()
        return out.reshape(n_trials, n_chans, -1)

    def _rows(self, x):
        """Resample the rows of x (n_rows, n_times_in) -> (n_rows, n_times_out)."""
        with torch.inference_mode():
            out = self._grouped(self._pad(x))
            return out[..., self.position].reshape(len(x), -1)[..., : self.n_times_out]

    def _grouped(self, rows):
        """The batched product, over blocks of rows and steps: its gathered copy stays under ``BLOCK_BYTES``.

        The strided view reads ``span`` samples every ``down``: copied whole for the product, it is
        ``span / down`` times the input (over 10 GiB for a few hours of EEG).
        """
        n_rows, per = rows.shape[0], self.n_groups * self.span * 4  # bytes gathered per row and step
        if n_rows * self.n_steps * per <= BLOCK_BYTES:
            return self._grouped_block(rows, 0, self.n_steps)
        row_block = max(1, min(n_rows, BLOCK_BYTES // per))
        steps = max(1, min(self.n_steps, BLOCK_BYTES // (per * row_block)))
        m = self.merge
        out = rows.new_empty((n_rows, self.n_steps * m, self.n_groups * self.n_slots))
        for r in range(0, n_rows, row_block):
            for q in range(0, self.n_steps, steps):
                n = min(steps, self.n_steps - q)
                out[r : r + row_block, q * m : (q + n) * m] = self._grouped_block(rows[r : r + row_block], q, n)
        return out

    def _grouped_block(self, rows, first_step, n_steps):
        # (group, row * step, column): (merged) step q of group g reads from q * merge * down + g * stride
        stride = self.merge * self.down
        view = rows.as_strided((self.n_groups, rows.shape[0], n_steps, self.span),
                               (self.group_stride, rows.stride(0), stride, 1),
                               rows.storage_offset() + first_step * stride)
        out = torch.bmm(view.reshape(self.n_groups, -1, self.span), self.kernel)
        # (group, row, step, merged, slot) -> (row, step * merged, group * slot): unmerged steps
        out = out.reshape(self.n_groups, rows.shape[0], n_steps, self.merge, self.n_slots)
        return out.permute(1, 2, 3, 0, 4).reshape(rows.shape[0], n_steps * self.merge, -1)

    def _pad(self, x):
        """Reflect ``left`` / ``right`` samples at the edges, then zeros up to ``padded_length``."""
        n = x.shape[1]
        rows = x.new_empty((x.shape[0], max(self.padded_length, self.left + n + self.right)))
        rows[:, self.left : self.left + n] = x
        rows[:, : self.left] = x[:, 1 : self.left + 1].flip(-1)
        rows[:, self.left + n : self.left + n + self.right] = x[:, n - 1 - self.right : n - 1].flip(-1)
        rows[:, self.left + n + self.right :] = 0
        return rows
