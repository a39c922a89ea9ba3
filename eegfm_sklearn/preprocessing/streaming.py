"""Sliding windows over a continuous recording, read chunk by chunk.

Memory stays bounded by one chunk of windows whatever the recording's
duration: data are read with ``raw.get_data(start, stop)`` per chunk
(straight from disk for a Raw that is not preloaded), and a chunk never
spans more than ``chunk_windows`` strides, however far apart the windows
kept around bad segments are.

Windows overlapping a bad span are skipped as mne's
``reject_by_annotation`` skips epochs: an annotation whose description
starts with "bad" (any case; ``BAD_``, ``bad blink``, the ``BAD boundary``
that ``mne.concatenate_raws`` places between recordings) or "edge" (its
``EDGE boundary``) rejects every window it overlaps, with mne's overlap
rule (onset < window end and onset + duration > window start, in seconds).
"""

from __future__ import annotations

import numpy as np

REJECT_PREFIXES = ("bad", "edge")


def window_starts(n_times, window, stride):
    """Start samples of the full windows of length ``window`` every ``stride``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1 sample; got window={window}, stride={stride}.")
    if n_times < window:
        return np.empty(0, dtype=int)
    return np.arange(0, n_times - window + 1, stride)


def bad_spans(raw, prefixes=REJECT_PREFIXES):
    """Onsets and ends (s, on the clock of ``raw.times``) of the annotations that reject windows.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    prefixes : tuple of str
        Description prefixes (case-insensitive) of rejecting annotations.

    Returns
    -------
    onsets, ends : ndarray of float, sorted by onset
    """
    annotations = raw.annotations
    keep = np.array([str(d).lower().startswith(prefixes) for d in annotations.description], dtype=bool)
    # Attached annotations count from meas_date (mne keeps orig_time == meas_date): subtract the
    # first sample's time, as mne does before comparing them with sample times.
    onsets = np.asarray(annotations.onset, dtype=float)[keep] - raw.first_time
    ends = onsets + np.asarray(annotations.duration, dtype=float)[keep]
    order = np.argsort(onsets, kind="stable")
    return onsets[order], ends[order]


def good_window_starts(raw, window, stride, reject_by_annotation=True):
    """Start samples (``raw.times`` index) of the windows to embed.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    window, stride : int
        In samples.
    reject_by_annotation : bool
        Skip windows overlapping a bad or edge annotation (see the module
        docstring).

    Returns
    -------
    starts : ndarray of int
        Increasing start samples.
    n_rejected : int
        Full windows skipped because of annotations.
    """
    starts = window_starts(raw.n_times, window, stride)
    if not reject_by_annotation or len(raw.annotations) == 0 or len(starts) == 0:
        return starts, 0
    onsets, ends = bad_spans(raw)
    if len(onsets) == 0:
        return starts, 0
    sfreq = raw.info["sfreq"]
    # annotations starting before a window's end, then the latest end among them
    n_before = np.searchsorted(onsets, (starts + window) / sfreq, side="left")
    latest_end = np.maximum.accumulate(ends)
    bad = (n_before > 0) & (latest_end[np.maximum(n_before - 1, 0)] > starts / sfreq)
    return starts[~bad], int(bad.sum())


def chunk_bounds(starts, window, chunk_windows):
    """``(i, j)`` index ranges of ``starts`` read together, in order.

    A chunk holds at most ``chunk_windows`` windows and spans at most as
    many samples as ``chunk_windows`` windows at the usual (median) stride.

    Parameters
    ----------
    starts : array of int
        Increasing window start samples.
    window : int
        In samples.
    chunk_windows : int
        Windows per chunk.

    Returns
    -------
    bounds : list of (int, int)
    """
    starts = np.asarray(starts, dtype=int)
    steps = np.diff(starts)
    span_limit = (chunk_windows - 1) * (int(np.median(steps)) if len(steps) else 0) + window
    bounds, i = [], 0
    while i < len(starts):
        stop = min(i + chunk_windows, len(starts))
        stop = i + max(1, int(np.searchsorted(starts[i:stop], starts[i] + span_limit - window, side="right")))
        bounds.append((i, stop))
        i = stop
    return bounds


def iter_raw_windows(raw, picks, starts, window, chunk_windows, read=None):
    """Yield ``(chunk_starts, windows)``, windows of shape (<= chunk_windows, n_picks, window), in V.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    picks : array of int
    starts : array of int
        Increasing window start samples (e.g. from :func:`good_window_starts`).
    window : int
        In samples.
    chunk_windows : int
        Windows per chunk (see :func:`chunk_bounds`).
    read : callable or None
        ``read(start, stop) -> (n_picks, stop - start)``: how samples are
        read (e.g. ``FilterPlan.reader``, filtered before windowing);
        default ``raw.get_data``.
    """
    starts = np.asarray(starts, dtype=int)
    for i, stop in chunk_bounds(starts, window, chunk_windows):
        chunk = starts[i:stop]
        start, stop_sample = int(chunk[0]), int(chunk[-1]) + window
        data = raw.get_data(picks=picks, start=start, stop=stop_sample) if read is None else read(start, stop_sample)
        offsets = chunk - chunk[0]
        # views into one contiguous read, then one copy of just these windows
        view = np.lib.stride_tricks.sliding_window_view(data, window, axis=1)
        yield chunk, np.ascontiguousarray(view[:, offsets].transpose(1, 0, 2))
