"""Window policies: what to do with trials shorter or longer than a model accepts.

* ``"crop"``: shorten each window to the last accepted length (the default).
* ``"pad"``: lengthen windows up to the next accepted length, and windows
  shorter than the model's minimum up to that minimum, padding at the end
  (zeros by default; ``pad_mode="edge"`` or ``"reflect"``).
* ``"split"``: cut each trial longer than the model's maximum (or than
  ``max_window_seconds``) into consecutive sub-windows of an accepted length,
  embed each, and pool them back to one row per trial (mean, max or
  concatenation).

The geometry is planned by the adapter (it knows the rates and the card);
this module holds the parts that do not depend on the model: parameter
checks, cutting trials into sub-windows, padding, and pooling back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_POLICIES = ("crop", "pad", "split")
PAD_MODES = ("constant", "edge", "reflect")
SPLIT_POOLINGS = ("mean", "max", "concat")
# Sub-windows covering each sample at most: split_overlap=0.9999 would step them by one sample
# (each sample embedded thousands of times, tens of GiB of sub-windows for a minute of EEG).
MAX_SPLIT_REDUNDANCY = 100


@dataclass(frozen=True)
class SplitPlan:
    """Where each trial is cut into sub-windows (input samples).

    Attributes
    ----------
    n_times_in : int
        Trial length.
    length : int
        Sub-window length.
    starts : tuple of int
        Start of each sub-window: every ``stride`` samples, the last one
        ending with the trial.
    stride : int
        Step between consecutive starts (but the last).
    """

    n_times_in: int
    length: int
    starts: tuple[int, ...]
    stride: int

    @classmethod
    def make(cls, n_times_in, length, overlap=0.0):
        """Sub-windows of ``length`` overlapping by ``overlap`` (a fraction) covering the trial."""
        stride = max(1, length - int(round(overlap * length)))
        if length / stride > MAX_SPLIT_REDUNDANCY:
            n_sub = (n_times_in - length) // stride + 1 + ((n_times_in - length) % stride != 0)
            raise ValueError(
                f"split_overlap={overlap:g} steps sub-windows of {length} samples by {stride}: each sample "
                f"would be embedded {length // stride} times ({n_sub} sub-windows per trial of {n_times_in} "
                f"samples). Use split_overlap <= {1 - 1 / MAX_SPLIT_REDUNDANCY:g} (each sample in at most "
                f"{MAX_SPLIT_REDUNDANCY} sub-windows).")
        starts = list(range(0, n_times_in - length + 1, stride))
        if starts[-1] != n_times_in - length:  # the last one ends with the trial: nothing dropped
            starts.append(n_times_in - length)
        return cls(int(n_times_in), int(length), tuple(starts), int(stride))

    @property
    def n_sub(self):
        """Sub-windows per trial."""
        return len(self.starts)

    def cut(self, X, part=slice(None)):
        """(n_trials, n_chans, n_times_in) -> (n_trials * n_sub, n_chans, length), trial-major.

        ``part``: a slice of the sub-windows to cut (the same for every trial), to cut a long
        trial's sub-windows a batch at a time.
        """
        view = np.lib.stride_tricks.sliding_window_view(X, self.length, axis=-1)  # (n, c, pos, length)
        sub = view[:, :, list(self.starts[part])]  # (n, c, n_part, length), one copy
        return np.ascontiguousarray(sub.transpose(0, 2, 1, 3)).reshape(-1, X.shape[1], self.length)


def pad_end(X, n_out, mode="constant"):
    """Pad the last axis at its end up to ``n_out`` samples (``numpy.pad`` modes)."""
    pad = n_out - X.shape[-1]
    if pad <= 0:
        return X
    return np.pad(X, [(0, 0)] * (X.ndim - 1) + [(0, pad)], mode=mode)


def pool_subwindows(out, n_sub, how="mean"):
    """Pool consecutive groups of ``n_sub`` rows (one trial's sub-windows) into one.

    Parameters
    ----------
    out : ndarray or torch.Tensor, shape (n_trials * n_sub, n_features)
    n_sub : int
    how : {"mean", "max", "concat"}

    Returns
    -------
    pooled : same type, shape (n_trials, n_features) or (n_trials, n_sub * n_features) for concat
    """
    if n_sub == 1:
        return out
    grouped = out.reshape(-1, n_sub, out.shape[-1])
    if how == "mean":
        return grouped.mean(1)
    if how == "max":
        pooled = grouped.max(1)
        return pooled.values if hasattr(pooled, "values") else pooled
    return grouped.reshape(grouped.shape[0], -1)
