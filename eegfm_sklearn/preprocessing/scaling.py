"""Per-window unit scaling and normalisation a card can declare.

Numpy (and a torch partial sort for quantiles). Each ``Scaling`` takes windows in µV, shape
(n_trials, n_chans, n_times), and returns what the backbone was trained on.
``fit`` learns dataset-level statistics where a scheme needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNIT_TO_UV = {"V": 1e6, "mV": 1e3, "uV": 1.0, "µV": 1.0, "μV": 1.0, "nV": 1e-3}


def to_microvolts(X, units):
    """Convert an array from ``units`` to µV.

    Parameters
    ----------
    X : ndarray
        Any shape.
    units : str
        One of ``"V"``, ``"mV"``, ``"uV"`` (``"µV"``), ``"nV"``.
    """
    if units not in UNIT_TO_UV:
        raise ValueError(f"units={units!r} is not known; use one of {sorted(UNIT_TO_UV)}.")
    factor = UNIT_TO_UV[units]
    return X if factor == 1.0 else X * factor


def upper_quantile(A, q):
    """``np.quantile(A, q, axis=-1, keepdims=True)`` (linear), by a partial sort.

    ``np.quantile`` sorts each row fully; the q-th quantile only needs the
    two order statistics around ``q * (n - 1)``, which ``torch.topk`` of the
    upper tail finds in a fraction of the time (the adapter's hot path).

    Parameters
    ----------
    A : ndarray, shape (..., n)
    q : float
        In [0, 1].

    Returns
    -------
    quantile : ndarray, shape (..., 1), dtype of ``A``
    """
    n = A.shape[-1]
    pos = q * (n - 1)
    lo = int(np.floor(pos))
    frac = pos - lo
    k = n - lo  # the k largest values run down to order statistic lo
    import torch  # here: the cards import this module, and listing them needs no torch

    with torch.inference_mode():
        top = torch.topk(torch.from_numpy(np.ascontiguousarray(A)), k, dim=-1, sorted=True).values
    below, above = top[..., k - 1 : k].numpy(), top[..., max(k - 2, 0) : max(k - 1, 1)].numpy()
    return below + (above - below) * np.asarray(frac, dtype=A.dtype)


@dataclass(frozen=True)
class Scaling:
    """Base class: identity on µV."""

    n_extra_channels = 0

    @property
    def learns(self) -> bool:
        """Whether ``fit`` learns anything (else the adapter need not adapt the training windows to fit)."""
        return type(self).fit is not Scaling.fit

    def fit(self, X) -> dict:
        """Dataset-level statistics (a dict of floats) learned from ``X``."""
        return {}

    def merge(self, stats_list) -> dict:
        """Statistics of several chunks fitted separately, combined."""
        return {}

    def apply(self, X, stats):
        """Scale ``X`` (n_trials, n_chans, n_times) µV; returns float32."""
        return X.astype(np.float32, copy=False)

    def describe(self) -> str:
        return "µV, unscaled"


@dataclass(frozen=True)
class DivideBy(Scaling):
    """µV divided by a constant (LaBraM: 100, i.e. units of 0.1 mV)."""

    divisor: float = 100.0

    def apply(self, X, stats):
        return (X / self.divisor).astype(np.float32, copy=False)

    def describe(self):
        return f"µV / {self.divisor:g}"


@dataclass(frozen=True)
class PercentileNormalize(Scaling):
    """Per window and channel, divide by the q-th percentile of |x| (BIOT)."""

    q: float = 95.0
    eps: float = 1e-8

    def apply(self, X, stats):
        scale = upper_quantile(np.abs(X), self.q / 100.0)
        return (X / (scale + self.eps)).astype(np.float32, copy=False)

    def describe(self):
        return f"per channel / {self.q:g}th percentile of |x|"


@dataclass(frozen=True)
class MinMaxWithScaleChannel(Scaling):
    """Per window, one min-max over all channels to [-1, 1], plus a SCALE row.

    BENDR's extra channel is the constant
    ``2 * (min(ptp(x) / (data_max - data_min), 1) - 0.5)``, where the
    dataset limits are learned in ``fit`` (over the training windows). With
    no limits (an empty fit), the row is 0.
    """

    n_extra_channels = 1

    def fit(self, X):
        return {"data_min": float(np.min(X)), "data_max": float(np.max(X))}

    def merge(self, stats_list):
        return {"data_min": min(s["data_min"] for s in stats_list),
                "data_max": max(s["data_max"] for s in stats_list)}

    def apply(self, X, stats):
        lo = X.min(axis=(1, 2), keepdims=True)
        hi = X.max(axis=(1, 2), keepdims=True)
        ptp = hi - lo
        out = 2.0 * (X - lo) / np.where(ptp > 0, ptp, 1.0) - 1.0
        span = stats.get("data_max", 0.0) - stats.get("data_min", 0.0)
        if span > 0:
            scale = 2.0 * (np.minimum(ptp / span, 1.0) - 0.5)
        else:
            scale = np.zeros_like(ptp)
        scale_row = np.broadcast_to(scale, (X.shape[0], 1, X.shape[2]))
        return np.concatenate([out, scale_row], axis=1).astype(np.float32, copy=False)

    def describe(self):
        return "per window min-max to [-1, 1] over all channels + SCALE channel"


@dataclass(frozen=True)
class ZScore(Scaling):
    """Per window and channel, subtract the mean and divide by the standard deviation.

    Optionally clip at ``clip`` standard deviations (REVE: 15) and multiply
    by ``target_std`` (models trained on a fixed spread, e.g. 0.1).
    """

    clip: float | None = None
    target_std: float = 1.0
    eps: float = 1e-8

    def apply(self, X, stats):
        X = np.asarray(X, dtype=np.float32)
        out = X - X.mean(axis=-1, keepdims=True)
        out /= out.std(axis=-1, keepdims=True) + self.eps
        if self.clip is not None:
            np.clip(out, -self.clip, self.clip, out=out)
        if self.target_std != 1.0:
            out *= self.target_std
        return out

    def describe(self):
        text = "per channel z-score over the window"
        if self.clip is not None:
            text += f", clipped at ±{self.clip:g} sd"
        if self.target_std != 1.0:
            text += f", times {self.target_std:g}"
        return text


@dataclass(frozen=True)
class ClipThenZScore(ZScore):
    """Clip the µV input at ±``limit_uv``, then z-score per window and channel.

    ST-EEGFormer's pretraining data loader clips each segment at ±500 (µV)
    before standardising each channel, so one artefact does not flatten
    the rest of the window.
    """

    limit_uv: float = 500.0

    def apply(self, X, stats):
        X = np.clip(np.asarray(X, dtype=np.float32), -self.limit_uv, self.limit_uv)
        return super().apply(X, stats)

    def describe(self):
        return f"clipped at ±{self.limit_uv:g} µV, then " + super().describe()
