"""Sliding windows over a continuous recording, read chunk by chunk.

Memory stays bounded by one chunk of windows whatever the recording's
duration: data are read with ``raw.get_data(start, stop)`` per chunk
(straight from disk for a Raw that is not preloaded).
"""

from __future__ import annotations

import numpy as np


def window_starts(n_times, window, stride):
    """Start samples of the full windows of length ``window`` every ``stride``."""
    if n_times < window:
        return np.empty(0, dtype=int)
    return np.arange(0, n_times - window + 1, stride)


def iter_raw_windows(raw, picks, window, stride, chunk_windows, read=None):
    """Yield arrays of windows, shape (<= chunk_windows, n_picks, window), in V.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    picks : array of int
    window, stride : int
        In samples.
    chunk_windows : int
        Windows per chunk.
    read : callable or None
        ``read(start, stop) -> (n_picks, stop - start)``: how samples are
        read (e.g. ``FilterPlan.reader``, filtered before windowing);
        default ``raw.get_data``.
    """
    starts = window_starts(raw.n_times, window, stride)
    for i in range(0, len(starts), chunk_windows):
        chunk = starts[i : i + chunk_windows]
        start, stop = int(chunk[0]), int(chunk[-1]) + window
        data = raw.get_data(picks=picks, start=start, stop=stop) if read is None else read(start, stop)
        offsets = chunk - chunk[0]
        # views into one contiguous read, then one copy of just these windows
        view = np.lib.stride_tricks.sliding_window_view(data, window, axis=1)
        yield np.ascontiguousarray(view[:, offsets].transpose(1, 0, 2))
