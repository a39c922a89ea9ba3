"""Sample tokens for the token mode: robust per-channel scaling, µ-law companding, 255 levels.

One token per sample and channel, as in the Brainformer reference: each
channel is centred on its median and divided by a high percentile of its
absolute deviation (both fitted on training data), clamped to ``[-1, 1]``,
companded with the µ-law and quantised to ``n_levels`` (255) evenly spaced
levels. Tokens ``0, 1, 2`` are PAD, BOS and EOS; level ``k`` is token
``k + 3``, so the vocabulary has ``255 + 3 = 258`` entries.

The µ-law spends its levels where the signal spends its time (near zero):
after companding ``y = sign(x) log(1 + mu |x|) / log(1 + mu)`` the levels are
evenly spaced in ``y``, i.e. logarithmically spaced in ``x``. The decoding
error of a sample inside the clamp range is therefore bounded analytically
(:func:`quantization_error_bound`); samples beyond it saturate at the clamp.
"""

from __future__ import annotations

import numpy as np

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3
N_LEVELS = 255
VOCAB_SIZE = N_LEVELS + N_SPECIAL
MU = 255.0


def mu_law_compand(x, mu: float = MU) -> np.ndarray:
    """``sign(x) log(1 + mu |x|) / log(1 + mu)``: maps ``[-1, 1]`` onto itself."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)


def mu_law_expand(y, mu: float = MU) -> np.ndarray:
    """Inverse of :func:`mu_law_compand`."""
    y = np.asarray(y, dtype=np.float64)
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


def levels_to_companded(levels, n_levels: int = N_LEVELS) -> np.ndarray:
    """Centre of each quantisation level in the companded domain ``[-1, 1]``."""
    return np.asarray(levels, dtype=np.float64) * (2.0 / (n_levels - 1)) - 1.0


def quantization_error_bound(x_scaled, mu: float = MU, n_levels: int = N_LEVELS) -> np.ndarray:
    """Largest decoding error of a scaled sample ``|x| <= 1``, in scaled units.

    Rounding moves the companded value by at most half a step,
    ``h = 1 / (n_levels - 1)``. The expansion's slope grows with ``|y|``, so by
    the mean value theorem the error is at most the slope at ``|y| + h``:
    ``h * log(1 + mu) / mu * (1 + mu |x|) * (1 + mu) ** h``.

    Parameters
    ----------
    x_scaled : array-like
        Samples after robust scaling (inside ``[-1, 1]``).
    mu, n_levels : float, int
        Companding constant and number of levels.

    Returns
    -------
    bound : ndarray, same shape as ``x_scaled``
    """
    h = 1.0 / (n_levels - 1)
    x = np.abs(np.asarray(x_scaled, dtype=np.float64))
    return h * np.log1p(mu) / mu * (1.0 + mu * x) * (1.0 + mu) ** h


class MuLawTokenizer:
    """Per-channel robust scaling + µ-law companding to integer tokens, and back.

    Parameters
    ----------
    clip_percentile : float, default=99.5
        The scale of a channel is this percentile of ``|x - median|`` over
        the training data; samples beyond it are clamped (they decode to the
        clamp value).
    mu : float, default=255.0
        µ-law constant.
    n_levels : int, default=255
        Quantisation levels (odd, so that the median is a level).

    Attributes
    ----------
    center_ : ndarray, shape (n_channels,)
        Per-channel median.
    scale_ : ndarray, shape (n_channels,)
        Per-channel clamp value (``|x - center_|`` at ``clip_percentile``);
        1 for flat channels.
    """

    def __init__(self, clip_percentile: float = 99.5, mu: float = MU, n_levels: int = N_LEVELS):
        self.clip_percentile = clip_percentile
        self.mu = mu
        self.n_levels = n_levels

    @property
    def vocab_size(self) -> int:
        return int(self.n_levels) + N_SPECIAL

    def _check_params(self):
        if not 0 < float(self.clip_percentile) <= 100:
            raise ValueError(f"clip_percentile must be in (0, 100]; got {self.clip_percentile!r}.")
        if not float(self.mu) > 0:
            raise ValueError(f"mu must be > 0; got {self.mu!r}.")
        if int(self.n_levels) != self.n_levels or self.n_levels < 3 or self.n_levels % 2 == 0:
            raise ValueError(f"n_levels must be an odd integer >= 3; got {self.n_levels!r}.")

    def fit(self, X):
        """Fit the per-channel centre and clamp on training windows.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_times)

        Returns
        -------
        self
        """
        self._check_params()
        X = _as_windows(X)
        flat = X.transpose(1, 0, 2).reshape(X.shape[1], -1)
        self.center_ = np.median(flat, axis=1)
        dev = np.abs(flat - self.center_[:, None])
        scale = np.percentile(dev, float(self.clip_percentile), axis=1)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def set_stats(self, center, scale):
        """Use stored statistics (e.g. read from a saved network) instead of fitting."""
        self._check_params()
        self.center_ = np.asarray(center, dtype=np.float64).copy()
        self.scale_ = np.asarray(scale, dtype=np.float64).copy()
        return self

    def scale(self, X) -> np.ndarray:
        """Scaled, clamped samples in ``[-1, 1]`` (the µ-law's input)."""
        X = self._check_channels(X)
        z = (X - self.center_[:, None]) / self.scale_[:, None]
        return np.clip(z, -1.0, 1.0)

    def encode(self, X) -> np.ndarray:
        """Continuous windows to tokens.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_times)
            In the units of the data passed to ``fit``.

        Returns
        -------
        tokens : ndarray of int64, shape (n_windows, n_channels, n_times)
            Values in ``[3, vocab_size)`` (never PAD/BOS/EOS).
        """
        y = mu_law_compand(self.scale(X), float(self.mu))
        levels = np.rint((y + 1.0) * ((int(self.n_levels) - 1) / 2.0)).astype(np.int64)
        return levels + N_SPECIAL

    def decode(self, tokens) -> np.ndarray:
        """Tokens to continuous windows in the units of ``fit``'s data.

        Parameters
        ----------
        tokens : array-like of int, shape (n_windows, n_channels, n_times)

        Returns
        -------
        X : ndarray of float64, shape (n_windows, n_channels, n_times)
        """
        tokens = self._check_channels(tokens, integer=True)
        if tokens.min() < N_SPECIAL or tokens.max() >= self.vocab_size:
            raise ValueError(
                f"Only level tokens {N_SPECIAL}..{self.vocab_size - 1} decode to samples; got values "
                f"from {tokens.min()} to {tokens.max()} (0/1/2 are PAD/BOS/EOS). Strip special tokens "
                "before decoding."
            )
        y = levels_to_companded(tokens - N_SPECIAL, int(self.n_levels))
        z = mu_law_expand(y, float(self.mu))
        return z * self.scale_[:, None] + self.center_[:, None]

    def _check_channels(self, X, integer=False) -> np.ndarray:
        if not hasattr(self, "scale_"):
            raise AttributeError("This MuLawTokenizer is not fitted yet: call fit(X) or set_stats() first.")
        X = _as_windows(X, integer=integer)
        if X.shape[1] != self.scale_.size:
            raise ValueError(
                f"Got {X.shape[1]} channels but the tokenizer was fitted on {self.scale_.size}; pass the "
                "same channels in the same order."
            )
        return X


def _as_windows(X, integer=False) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"Expected windows of shape (n_windows, n_channels, n_times); got shape {X.shape}.")
    if integer:
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"Tokens must be integers; got dtype {X.dtype}.")
        return X.astype(np.int64)
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ValueError("Windows contain NaN or infinite values; drop or interpolate them first.")
    return X
