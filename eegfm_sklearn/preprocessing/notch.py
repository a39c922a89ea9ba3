"""The per-window notch (and detrend) as a least-squares projection, at any rate and length.

Per window and channel, the projection removes every signal band-limited to
each notch's stop band over the window (mne's FIR notch band,
f +- (f/400 + 0.5) Hz): the line sinusoid plus the Slepian sequences of that
half-bandwidth modulated to f, fitted together with the detrending line
(see ``filtering.py`` for why a projection rather than an IIR notch).

The span has about ``2 * (2 * T * W + 2)`` dimensions for a window of T
seconds and a half-bandwidth of W Hz: it depends on the window's duration,
not on its rate. Two ways to compute it, which give the same result within
float32 precision on the windows where both are affordable (tested):

* short windows (the basis below ``EXACT_MAX_ELEMENTS``): the basis at the
  input rate, orthonormalised once per (rate, length) and cached, applied
  as one matrix product over every window and channel;
* long windows at high rates (60 s at 5 kHz: 300 000 samples by 154
  columns, 77 s and 390 MB to build that way): the stop band is shifted
  to 0 Hz (multiplied by exp(-2i pi f t)), where its Slepian sequences are
  smooth; they are computed on a coarse grid over the window (32 points per
  period of the half-bandwidth) and linearly interpolated to the input
  rate by a sparse matrix ``I``, so that only the coarse basis ``B`` and
  ``I`` are stored. The fit solves the normal equations of ``I @ B`` (its
  Gram matrix ``B.T (I.T I) B`` is exact); the modulated families at +f and
  -f, and the detrending line, are fitted one after the other, which
  neglects their overlap (of the order of 1 / (2 pi f T): 1e-4 at 50 Hz,
  60 s). Time and memory grow with the window's samples only linearly,
  processed a few rows at a time.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.signal.windows import dpss

NOTCH_TRANS_BANDWIDTH = 1.0  # mne.filter.notch_filter's default
# Above this many basis elements (samples x columns) the coarse-grid path is used (32 MB in float64).
EXACT_MAX_ELEMENTS = 2**22
# Coarse-grid points per period of the stop band's half-width (linear interpolation error ~ (pi/32)^2 / 8).
POINTS_PER_PERIOD = 32
# Rows processed at once on the coarse-grid path (bounded temporaries: rows x samples complex).
ROW_BYTES = 8 * 2**20


def half_bandwidth(freq):
    """Half-width (Hz) of mne's FIR notch stop band at ``freq``: f +- (f/400 + 0.5)."""
    return freq / 400.0 + NOTCH_TRANS_BANDWIDTH / 2


def n_tapers(n_times, sfreq, freq):
    """Time-half-bandwidth product and the number of Slepian sequences kept for a notch at ``freq``."""
    nw = n_times / sfreq * half_bandwidth(freq)
    return nw, int(np.ceil(2 * nw)) + 1


def basis_elements(sfreq, n_times, detrend, notch):
    """Size (samples x columns) of the exact basis: which path ``project_out`` takes."""
    cols = 2 if detrend else 0
    for freq in notch:
        cols += 2 + 2 * n_tapers(n_times, sfreq, freq)[1]
    return n_times * cols


def project_out(x, sfreq, detrend, notch, exact=None):
    """Remove the detrending line and each notch's stop-band signals from every row of ``x``.

    Parameters
    ----------
    x : ndarray of float32, shape (..., n_times)
    sfreq : float
    detrend : bool
        Also fit (jointly on the exact path) an offset and a slope.
    notch : tuple of float
    exact : bool or None
        Force a path (tests); None chooses by the basis's size.

    Returns
    -------
    y : ndarray of float32, shape of ``x``
    """
    n_times = x.shape[-1]
    if exact is None:
        exact = basis_elements(sfreq, n_times, detrend, notch) <= EXACT_MAX_ELEMENTS
    if exact:
        basis = exact_basis(sfreq, n_times, detrend, tuple(notch))
        if basis is None:
            return x
        q, q_t = basis
        # one BLAS product per window (contiguous operands): a window's result does not
        # depend on the windows beside it
        return x - (x @ q) @ q_t
    y = np.array(x, dtype=np.float32, order="C", copy=True)  # C order: rows below is a view, edited in place
    rows = y.reshape(-1, n_times)
    if not notch:  # the line alone (not reached from the filters: a detrend-only basis is small)
        line = _line(n_times).astype(np.float32)
        rows -= (rows @ line) @ line.T
    for i, freq in enumerate(notch):  # the line is fitted with the first band
        _remove_band(rows, sfreq, float(freq), detrend and i == 0)
    return y


@functools.lru_cache(maxsize=16)
def exact_basis(sfreq, n_times, detrend, notch):
    """Orthonormal columns ``q`` (n_times, k) projected out of each window, and ``q.T``; or None."""
    t = np.arange(n_times) / sfreq
    columns = [np.ones(n_times), t - t.mean()] if detrend else []
    for freq in notch:
        nw, k = n_tapers(n_times, sfreq, freq)
        tapers = dpss(n_times, nw, k).reshape(-1, n_times)
        carrier = 2 * np.pi * freq * t
        columns += [np.cos(carrier), np.sin(carrier), *(tapers * np.cos(carrier)), *(tapers * np.sin(carrier))]
    if not columns:
        return None
    # orthonormal basis of their span (the sinusoid nearly lies in the tapers' span: drop the null part)
    u, sv, _ = np.linalg.svd(np.stack(columns, axis=1), full_matrices=False)
    q = np.ascontiguousarray(u[:, sv > sv[0] * 1e-9], dtype=np.float32)
    q_t = np.ascontiguousarray(q.T)
    q.flags.writeable = q_t.flags.writeable = False  # shared by every call (cached)
    return q, q_t


def _interpolation(n_times, m, chunk=2**16):
    """Sparse (n_times, m), float32: cubic Lagrange interpolation from m points spanning the window.

    Both grids are cell-centred over the same duration (a discrete sequence of
    N points covers N sample periods): sample i sits at coarse position
    (i + 1/2) m / n - 1/2, slightly outside [0, m - 1] at the two ends.
    Built in chunks of samples, straight into CSR arrays (4 entries a row).
    """
    from scipy.sparse import csr_matrix

    indices = np.empty((n_times, 4), dtype=np.int32)
    data = np.empty((n_times, 4), dtype=np.float32)
    for start in range(0, n_times, chunk):
        u = (np.arange(start, min(start + chunk, n_times)) + 0.5) * (m / n_times) - 0.5
        first = np.clip(np.floor(u).astype(np.int64) - 1, 0, m - 4)  # 4-point stencils inside the grid
        for a in range(4):  # Lagrange basis polynomials
            w = np.ones_like(u)
            for b in range(4):
                if a != b:
                    w *= (u - (first + b)) / (a - b)
            indices[start:start + len(u), a] = first + a
            data[start:start + len(u), a] = w
    indptr = np.arange(0, 4 * n_times + 1, 4, dtype=np.int32)
    return csr_matrix((data.ravel(), indices.ravel(), indptr), shape=(n_times, m))


@functools.lru_cache(maxsize=8)
def _coarse_plan(sfreq, n_times, freq, detrend):
    """For a notch at ``freq``: the interpolation ``I`` (sparse, n_times x m), the coarse basis
    ``B`` (m, k + 1), the pseudo-inverse of the Gram matrix of [line, I B cos, I B sin] and the
    carrier exp(-2i pi f t) (complex64)."""
    from scipy.sparse import diags

    duration = n_times / sfreq
    nw, k = n_tapers(n_times, sfreq, freq)
    m = int(min(n_times, max(k + 4, np.ceil(duration * half_bandwidth(freq) * POINTS_PER_PERIOD) + 1)))
    interp = _interpolation(n_times, m)
    coarse = np.concatenate([np.ones((1, m)) / np.sqrt(m), dpss(m, nw, k).reshape(-1, m)]).T  # line + tapers
    # B' I' diag(w) I B for w = cos^2, sin^2, cos sin, exactly: I' diag(w) I is banded (m x m), summed over
    # chunks of samples so that no temporary is the window's size
    bands = [0, 0, 0]
    cross = np.zeros((2, m, 2))  # I' (line * cos), I' (line * sin)
    line_all = _line(n_times) if detrend else None
    for start in range(0, n_times, 2**16):
        stop = min(start + 2**16, n_times)
        part = interp[start:stop]
        phase = 2 * np.pi * freq * np.arange(start, stop) / sfreq
        cos, sin = np.cos(phase), np.sin(phase)
        for i, w in enumerate((cos * cos, sin * sin, cos * sin)):
            bands[i] = bands[i] + part.T @ (diags(w.astype(np.float32)) @ part)
        if detrend:
            cross[0] += part.T @ (line_all[start:stop] * cos[:, None])
            cross[1] += part.T @ (line_all[start:stop] * sin[:, None])
    cc, ss, cs = (coarse.T @ (band @ coarse) for band in bands)
    gram = np.block([[cc, cs], [cs.T, ss]])
    if detrend:  # the offset and slope, fitted jointly with the band
        cross = np.concatenate([coarse.T @ cross[0], coarse.T @ cross[1]])  # (2k, 2)
        gram = np.block([[line_all.T @ line_all, cross.T], [cross, gram]])
    # the line lies almost in the tapers' span: drop the null directions, as the exact path does
    gram_inv = np.linalg.pinv(gram, rcond=1e-10, hermitian=True)
    carrier = np.exp(-2j * np.pi * freq / sfreq * np.arange(n_times)).astype(np.complex64)
    line = None if line_all is None else np.ascontiguousarray(line_all, dtype=np.float32)
    for array in (carrier, line):
        if array is not None:
            array.flags.writeable = False  # shared by every call (cached)
    return interp, coarse.astype(np.complex64), gram_inv, carrier, line


def _line(n_times):
    t = np.arange(n_times) - (n_times - 1) / 2.0
    return np.stack([np.ones(n_times), t / np.sqrt(t @ t)], axis=1)


def _remove_band(rows, sfreq, freq, detrend):
    """The stop band's signals (and the line) removed from each row, in place, a few rows at a time."""
    interp, coarse, gram_inv, carrier, line = _coarse_plan(sfreq, rows.shape[-1], freq, detrend)
    k = coarse.shape[1]
    step = max(1, ROW_BYTES // (16 * rows.shape[-1]))
    for start in range(0, len(rows), step):
        block = rows[start:start + step]
        # B' I' (x cos) - i B' I' (x sin), for every row at once
        low = coarse.T @ (interp.T @ (block * carrier).T)  # (k, b) complex
        rhs = [low.real, -low.imag]
        if detrend:
            rhs.insert(0, (block @ line).T.astype(np.float64))
        coef = gram_inv @ np.concatenate(rhs)  # [line; a; b]: x ~ line + (I B a) cos + (I B b) sin
        if detrend:
            block -= (line @ coef[:2].astype(np.float32)).T
            coef = coef[2:]
        fit = (interp @ (coarse @ (coef[:k] - 1j * coef[k:]).astype(np.complex64))).T  # (b, n): I B (a - i b)
        # Re(fit * conj(carrier)), without complex temporaries of the window's size
        block -= fit.real * carrier.real
        block -= fit.imag * carrier.imag
