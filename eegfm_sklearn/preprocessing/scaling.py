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
        return f"per channel / ({self.q:g}th percentile of |x| + {self.eps:g} µV)"


@dataclass(frozen=True)
class MinMaxWithScaleChannel(Scaling):
    """Per window, one min-max over all channels to [-1, 1], plus a SCALE row.

    BENDR's extra channel is the constant
    ``2 * (min(ptp(x) / span, 1) - 0.5)``. ``span`` is the dataset's
    ``data_max - data_min`` (µV): fixed where the authors fixed it (BENDR's
    pretraining limits), else learned in ``fit`` (over the training
    windows; with no limits, an empty fit, the row is 0).
    ``zero_in_range``: the min-max range includes 0, as when the rows of
    unused channels (zeros) take part in it (DN3's Deep1010 mapping).
    """

    span: float | None = None
    zero_in_range: bool = False
    n_extra_channels = 1

    @property
    def learns(self) -> bool:
        return self.span is None

    def fit(self, X):
        if self.span is not None:
            return {}
        return {"data_min": float(np.min(X)), "data_max": float(np.max(X))}

    def merge(self, stats_list):
        if self.span is not None or not stats_list:
            return {}
        return {"data_min": min(s["data_min"] for s in stats_list),
                "data_max": max(s["data_max"] for s in stats_list)}

    def apply(self, X, stats):
        lo = X.min(axis=(1, 2), keepdims=True)
        hi = X.max(axis=(1, 2), keepdims=True)
        ptp = hi - lo  # the SCALE row reads the data's own range
        if self.zero_in_range:
            lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        rng = hi - lo
        # written in place into the output (the SCALE row last): out-of-place, the temporaries and the
        # concatenation were 3-4 copies of a window (hours of EEG: GiBs)
        out = np.empty((X.shape[0], X.shape[1] + 1, X.shape[2]), dtype=np.result_type(X.dtype, np.float32))
        body = out[:, :-1]
        np.subtract(X, lo, out=body)
        body *= 2.0
        body /= np.where(rng > 0, rng, 1.0)
        body -= 1.0
        span = self.span if self.span is not None else stats.get("data_max", 0.0) - stats.get("data_min", 0.0)
        if span > 0:
            scale = 2.0 * (np.minimum(ptp / span, 1.0) - 0.5)
        else:
            scale = np.zeros_like(ptp)
        out[:, -1:] = scale
        return out.astype(np.float32, copy=False)

    def describe(self):
        limits = (f"fixed dataset span {self.span:g} µV" if self.span is not None
                  else "dataset limits learned in fit")
        return f"per window min-max to [-1, 1] over all channels + SCALE channel ({limits})"


def average_reference(X):
    """Subtract, at every sample, the mean over the window's channels (common average reference)."""
    return X - X.mean(axis=-2, keepdims=True)


@dataclass(frozen=True)
class AverageReference(Scaling):
    """Common average reference over the window's channels, then µV divided by a constant.

    ``divisor=1000`` gives mV (EEGPT's pretraining data: re-referenced to the
    channels' mean and in mV, no per-channel normalisation).
    """

    divisor: float = 1.0

    def apply(self, X, stats):
        out = average_reference(np.asarray(X, dtype=np.float32))
        if self.divisor != 1.0:
            out /= np.float32(self.divisor)
        return out

    def describe(self):
        unit = {1.0: "µV", 1000.0: "mV"}.get(self.divisor, f"µV / {self.divisor:g}")
        return f"common average reference over the channels, in {unit}; no per-channel normalisation"


@dataclass(frozen=True)
class ZScore(Scaling):
    """Per window and channel, subtract the mean and divide by the standard deviation.

    Optionally re-reference each window to its channels' mean first
    (``average_reference``), clip at ``clip`` standard deviations (REVE: 15)
    and multiply by ``target_std`` (models trained on a fixed spread, e.g.
    0.1). ``eps`` (µV) is added to the standard deviation. ``ddof=1`` for
    authors who normalise with torch's default (unbiased) ``std``.
    """

    clip: float | None = None
    target_std: float = 1.0
    eps: float = 1e-8
    average_reference: bool = False
    ddof: int = 0

    def apply(self, X, stats):
        X = np.asarray(X, dtype=np.float32)
        if self.average_reference:
            X = average_reference(X)
        out = X - X.mean(axis=-1, keepdims=True)
        # the centred values' spread directly (np.std would centre them again: two more passes)
        sd = np.sqrt(np.square(out).sum(axis=-1, keepdims=True) / (out.shape[-1] - self.ddof))
        out /= sd + self.eps
        if self.clip is not None:
            np.clip(out, -self.clip, self.clip, out=out)
        if self.target_std != 1.0:
            out *= self.target_std
        return out

    def describe(self):
        text = "per channel z-score over the window"
        if self.average_reference:
            text = "common average reference, then " + text
        if self.eps >= 1e-3:
            text += f" (sd + {self.eps:g} µV)"
        if self.ddof:
            text += f" (std with ddof={self.ddof})"
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
