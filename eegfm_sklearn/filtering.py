"""The card's pretraining filters, applied to the user's data at its own rate.

Filters run at the input's sampling rate, before resampling to the card's
rate (the order of the authors' pipelines: filter, then resample).

Continuous recordings (``mne.io.Raw``) are filtered before they are cut
into windows, exactly as ``raw.filter(l_freq, h_freq)`` followed by
``raw.notch_filter(notch)`` with mne's defaults would filter the whole
recording (zero-phase FIR, ``fir_design="firwin"``, Hamming window,
automatic transition bands and lengths, ``pad="reflect_limited"``). The
recording is read in chunks with one full filter length of real context
on each side, filtered by the same mne functions, and cropped: outputs away
from a chunk's cut edges depend only on real samples, and a chunk that
touches the recording's start or end sees mne's own edge padding. Memory
stays bounded by one chunk plus its context.

Windows (numpy, ``mne.Epochs``) carry no context: a 0.1 Hz high-pass needs
tens of seconds to act, so each window is linearly detrended (its offset
and drift removed, what a high-pass does to a few seconds), a high-pass is
applied only when the window holds two of its periods, and the band edges
and notches use zero-phase IIR filters (mne's 4th-order Butterworth,
forward-backward with padding) suited to a few seconds.

An edge at or above the input's Nyquist frequency is skipped (the
recording holds nothing there to remove) and the description says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import mne
import numpy as np
from scipy.signal import detrend

FILTER_OPTIONS = ("card", None)
# Periods of the high-pass edge a window must hold before an IIR high-pass acts on it.
HIGHPASS_PERIODS = 2.0
NOTCH_TRANS_BANDWIDTH = 1.0  # mne.filter.notch_filter's default


def _notch_fir_length(sfreq, freq):
    """Taps of mne's FIR notch at ``freq`` (its band-stop design with default widths)."""
    half = freq / 200.0 / 2.0 + NOTCH_TRANS_BANDWIDTH / 2.0
    h = mne.filter.create_filter(None, sfreq, freq + half, freq - half, l_trans_bandwidth=NOTCH_TRANS_BANDWIDTH / 2,
                                 h_trans_bandwidth=NOTCH_TRANS_BANDWIDTH / 2, verbose=False)
    return len(h)


@dataclass(frozen=True)
class FilterPlan:
    """What the card's filters become for one input rate and window length.

    Attributes
    ----------
    source : str
        ``"card"`` (the card's filters), ``"none"`` (``filters=None``) or
        ``"card states none"``.
    sfreq : float
        Input rate (Hz), at which filters run.
    l_freq, h_freq : float or None
        Band edges applied (None where absent or skipped).
    notch : tuple of float
        Notch frequencies applied.
    skipped : tuple of str
        Edges of the card not applied, with the reason.
    fir_lengths : tuple of int
        Taps of the continuous FIR stages (band, then the notches' band-stop).
    window_highpass : bool
        Whether windows of ``n_times`` samples get an IIR high-pass (else
        detrending stands in for it).
    n_times : int
        Window length the windowed plan was made for.
    card_filters : str
        The card's own statement, for the description.
    """

    source: str
    sfreq: float
    l_freq: float | None = None
    h_freq: float | None = None
    notch: tuple[float, ...] = ()
    skipped: tuple[str, ...] = ()
    fir_lengths: tuple[int, ...] = ()
    window_highpass: bool = False
    n_times: int = 0
    card_filters: str = "none"

    @property
    def active(self) -> bool:
        """Whether any filter is applied."""
        return self.l_freq is not None or self.h_freq is not None or bool(self.notch)

    @property
    def context(self) -> int:
        """Real samples read on each side of a chunk of a continuous recording."""
        return int(sum(self.fir_lengths))

    # -- descriptions ---------------------------------------------------------
    def _band(self):
        spec = []
        if self.l_freq is not None and self.h_freq is not None:
            spec.append(f"band-pass {self.l_freq:g}-{self.h_freq:g} Hz")
        elif self.l_freq is not None:
            spec.append(f"high-pass {self.l_freq:g} Hz")
        elif self.h_freq is not None:
            spec.append(f"low-pass {self.h_freq:g} Hz")
        if self.notch:
            spec.append("notch " + ", ".join(f"{f:g}" for f in self.notch) + " Hz")
        return " + ".join(spec)

    def _skipped(self):
        return "".join(f"; {s}" for s in self.skipped)

    def describe(self, continuous: bool) -> str:
        """One line: the filters and how they are applied (continuous recording or windows)."""
        if self.source == "none":
            return (f"filters: none applied (filters=None: the data are taken as already filtered "
                    f"like the pretraining data; the card states {self.card_filters})")
        if not self.active:
            stated = "none" if self.source == "card states none" else self.card_filters
            return f"filters: none (the card states {stated}){self._skipped()}"
        where = f"at the input's {self.sfreq:g} Hz, before resampling"
        if continuous:
            calls = []
            if self.l_freq is not None or self.h_freq is not None:
                calls.append(f"raw.filter({self.l_freq}, {self.h_freq})")
            if self.notch:
                calls.append(f"raw.notch_filter({list(self.notch)})")
            return (f"filters: {self._band()} on the continuous recording before windowing, {where}: "
                    f"{' then '.join(calls)} with mne's defaults (zero-phase FIR, firwin, Hamming, "
                    f"automatic transition bands; {'+'.join(map(str, self.fir_lengths))} taps), "
                    f"in chunks with {self.context} samples of context per side{self._skipped()}")
        parts = []
        if self.l_freq is not None:
            parts.append("linear detrend")
            if self.window_highpass:
                parts.append(f"IIR high-pass {self.l_freq:g} Hz")
            else:
                parts.append(f"no high-pass ({self.l_freq:g} Hz needs {HIGHPASS_PERIODS / self.l_freq:g} s, "
                             f"windows are {self.n_times / self.sfreq:g} s: the detrend removes offset and drift)")
        if self.h_freq is not None:
            parts.append(f"IIR low-pass {self.h_freq:g} Hz")
        if self.notch:
            parts.append("IIR notch " + ", ".join(f"{f:g}" for f in self.notch) + " Hz")
        return (f"filters: {self._band()} per window, {where}: " + ", ".join(parts)
                + " (zero-phase 4th-order Butterworth, mne.filter.filter_data/notch_filter "
                f"method='iir', reflect-limited padding){self._skipped()}")

    # -- applying -------------------------------------------------------------
    def filter_continuous(self, data):
        """Filter a stretch of a recording (n_chans, n_times), float64, as raw.filter would."""
        if self.l_freq is not None or self.h_freq is not None:
            data = mne.filter.filter_data(data, self.sfreq, self.l_freq, self.h_freq, verbose=False)
        if self.notch:
            data = mne.filter.notch_filter(data, self.sfreq, np.array(self.notch), verbose=False)
        return data

    def filter_windows(self, X):
        """Filter windows (n_windows, n_chans, n_times) one by one; returns float32."""
        x = np.asarray(X, dtype=np.float64)
        if self.l_freq is not None:
            x = detrend(x, axis=-1, type="linear")
        high = self.l_freq if self.window_highpass else None
        if high is not None or self.h_freq is not None:
            x = mne.filter.filter_data(x, self.sfreq, high, self.h_freq, method="iir", verbose=False)
        if self.notch:
            x = mne.filter.notch_filter(x, self.sfreq, np.array(self.notch), method="iir", verbose=False)
        return x.astype(np.float32)

    def reader(self, raw, picks):
        """``read(start, stop) -> (n_picks, stop - start)`` filtered samples of ``raw``."""
        if not self.active:
            return lambda start, stop: raw.get_data(picks=picks, start=start, stop=stop)
        _check_one_segment(raw)
        n, context = raw.n_times, self.context

        def read(start, stop):
            lo, hi = max(0, start - context), min(n, stop + context)
            data = self.filter_continuous(raw.get_data(picks=picks, start=lo, stop=hi))
            return data[:, start - lo : stop - lo]

        return read


def _check_one_segment(raw):
    # raw.filter filters each acquisition segment apart; one pass over the
    # whole recording would smear across the joins.
    joins = [d for d in raw.annotations.description if d.lower().startswith(("edge", "bad_acq_skip"))]
    if joins:
        raise ValueError(
            f"The recording has {len(joins)} acquisition boundaries ({joins[0]!r} annotations, e.g. "
            "from concatenated files), which mne filters segment by segment. Filter it yourself "
            "(raw.filter(...), raw.notch_filter(...), see the model card's filters) and pass filters=None."
        )


def plan_filters(card, sfreq, n_times, filters="card"):
    """Plan the card's filters for input at ``sfreq`` in windows of ``n_times`` samples.

    Parameters
    ----------
    card : ModelCard
    sfreq : float
        Input rate (Hz).
    n_times : int
        Input window length (samples), for the windowed plan.
    filters : {"card", None}
        The estimator's param: apply the card's filters, or none.

    Returns
    -------
    plan : FilterPlan
    """
    if not (filters is None or (isinstance(filters, str) and filters == "card")):
        raise ValueError(f"filters={filters!r}; use 'card' (apply the model card's pretraining filters) "
                         "or None (the data are already filtered as the checkpoint expects).")
    spec = card.filters
    stated = spec.describe() if spec is not None else "none"
    if filters is None:
        return FilterPlan(source="none", sfreq=sfreq, card_filters=stated, n_times=n_times)
    if spec is None:
        return FilterPlan(source="card states none", sfreq=sfreq, n_times=n_times)
    nyquist = sfreq / 2.0
    skipped = []
    h_freq = spec.h_freq
    if h_freq is not None and h_freq >= nyquist:
        skipped.append(f"low-pass {h_freq:g} Hz skipped: at or above the input's Nyquist frequency "
                       f"({nyquist:g} Hz), so the recording holds nothing above it to remove")
        h_freq = None
    notch = []
    for freq in spec.notch:
        # mne's notch stop band reaches freq + freq/400 + 0.5 Hz
        if freq + freq / 400.0 + NOTCH_TRANS_BANDWIDTH / 2 >= nyquist:
            skipped.append(f"notch {freq:g} Hz skipped: its stop band reaches the input's Nyquist "
                           f"frequency ({nyquist:g} Hz)")
        else:
            notch.append(float(freq))
    l_freq = spec.l_freq
    lengths = []
    if l_freq is not None or h_freq is not None:
        lengths.append(len(mne.filter.create_filter(None, sfreq, l_freq, h_freq, verbose=False)))
    if notch:  # one band-stop FIR for all notches (same transition bands)
        lengths.append(_notch_fir_length(sfreq, notch[0]))
    window_highpass = l_freq is not None and n_times / sfreq >= HIGHPASS_PERIODS / l_freq
    return FilterPlan(source="card", sfreq=sfreq, l_freq=l_freq, h_freq=h_freq, notch=tuple(notch),
                      skipped=tuple(skipped), fir_lengths=tuple(lengths), window_highpass=window_highpass,
                      n_times=n_times, card_filters=stated)
