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
and drift removed, what a high-pass does to a few seconds), and a
high-pass (zero-phase IIR: mne's 4th-order Butterworth, forward-backward,
as ``filter_data(method="iir")``) is applied only when the window holds two
of its periods. The low-pass is mne's own FIR (the taps of
``filter_data(x, sfreq, None, h_freq)``, a fraction of a second long) run
on each window with mne's reflect-limited edge padding; where that FIR
would be longer than half the window, the IIR low-pass instead. A notch is a
least-squares projection, per window and channel, removing every signal
band-limited to the notch's stop band over the window (mne's FIR notch
band, f +- (f/400 + 0.5) Hz): the line sinusoid itself plus the Slepian
sequences of that half-bandwidth modulated to f (the multitaper view of
line noise), fitted together with the detrending line (``notch.py``; long
windows at high rates take a coarse-grid form of the same projection whose
cost grows linearly with the samples). A narrow IIR notch
instead rings for about a second after each window edge: on 4 s windows
at 500 Hz it left 17-30 % of a 50-50.5 Hz hum, the projection 0-5 % while
leaving a 51 Hz tone at 93 % and 45 Hz untouched (measured).

An edge at or above the input's Nyquist frequency is skipped (the
recording holds nothing there to remove) and the description says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mne
import numpy as np
from scipy.signal import fftconvolve, sosfiltfilt

from .filter_spec import FilterSpec
from .notch import NOTCH_TRANS_BANDWIDTH, half_bandwidth, project_out

FILTER_OPTIONS = ("card", None)
# Periods of the high-pass edge a window must hold before an IIR high-pass acts on it.
HIGHPASS_PERIODS = 2.0


@functools.lru_cache(maxsize=64)
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
    def iir_lowpass(self) -> bool:
        """Whether windows get the IIR low-pass (mne's FIR would be longer than half a window)."""
        return self.h_freq is not None and len(_lowpass_fir(self.sfreq, self.h_freq)) > self.n_times // 2

    @property
    def context(self) -> int:
        """Real samples read on each side of a chunk of a continuous recording."""
        return int(sum(self.fir_lengths))

    # -- descriptions ---------------------------------------------------------
    def _band(self):
        return FilterSpec(self.l_freq, self.h_freq, tuple(self.notch)).describe(sep=" + ")

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
        if self.notch:
            parts.append("notch " + ", ".join(f"{f:g}" for f in self.notch) + " Hz as a least-squares "
                         "projection (line sinusoid + Slepian sequences of the stop band)")
        if self.l_freq is not None:
            parts.append("linear detrend")
            if self.window_highpass:
                parts.append(f"IIR high-pass {self.l_freq:g} Hz")
            else:
                parts.append(f"no high-pass ({self.l_freq:g} Hz needs {HIGHPASS_PERIODS / self.l_freq:g} s, "
                             f"windows are {self.n_times / self.sfreq:g} s: the detrend removes offset and drift)")
        iir_lowpass = False
        if self.h_freq is not None:
            taps = len(_lowpass_fir(self.sfreq, self.h_freq))
            iir_lowpass = taps > self.n_times // 2
            parts.append(f"IIR low-pass {self.h_freq:g} Hz" if iir_lowpass else
                         f"low-pass {self.h_freq:g} Hz as mne's FIR ({taps} taps, reflect-limited padding)")
        iir = ("; IIR: zero-phase 4th-order Butterworth as mne.filter.filter_data(method='iir')"
               if self.window_highpass or iir_lowpass else "")
        return f"filters: {self._band()} per window, {where}: " + ", ".join(parts) + iir + self._skipped()

    # -- applying -------------------------------------------------------------
    def filter_continuous(self, data):
        """Filter a stretch of a recording (n_chans, n_times), float64, as raw.filter would."""
        if self.l_freq is not None or self.h_freq is not None:
            data = mne.filter.filter_data(data, self.sfreq, self.l_freq, self.h_freq, verbose=False)
        if self.notch:
            data = mne.filter.notch_filter(data, self.sfreq, np.array(self.notch), verbose=False)
        return data

    def filter_windows(self, X):
        """Filter windows (n_windows, n_chans, n_times) one by one; returns float32.

        In float32 (the backbone's precision; the IIR in float64): a
        projection, then scipy's ``sosfiltfilt``/``fftconvolve`` on all rows
        at once with mne's filter designs and edge padding, equal to mne's
        own calls within float32 precision.
        """
        x = np.asarray(X, dtype=np.float32)
        n_times = x.shape[-1]
        if self.l_freq is not None or self.notch:  # least-squares detrend + notch (notch.py)
            x = project_out(x, self.sfreq, self.l_freq is not None, self.notch)
        if self.window_highpass:
            x = _iir(x, self.sfreq, self.l_freq, None)
        if self.h_freq is not None:
            h = _lowpass_fir(self.sfreq, self.h_freq)
            if len(h) <= n_times // 2:
                half = len(h) // 2
                padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect", reflect_type="odd")
                x = fftconvolve(padded, h.reshape((1,) * (x.ndim - 1) + (-1,)), mode="valid", axes=-1)
            else:
                x = _iir(x, self.sfreq, None, self.h_freq)
        return np.ascontiguousarray(x, dtype=np.float32)

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


@functools.lru_cache(maxsize=64)
def _band_fir_length(sfreq, l_freq, h_freq):
    """Taps of mne's FIR band filter (designed once per rate and edges: every fit plans it)."""
    return len(mne.filter.create_filter(None, sfreq, l_freq, h_freq, verbose=False))


@functools.lru_cache(maxsize=16)
def _lowpass_fir(sfreq, h_freq):
    """mne's zero-phase FIR low-pass (as filter_data(x, sfreq, None, h_freq) designs it), float32."""
    return mne.filter.create_filter(None, sfreq, None, h_freq, verbose=False).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _iir_design(sfreq, l_freq, h_freq):
    return mne.filter.create_filter(None, sfreq, l_freq, h_freq, method="iir", verbose=False)


def _iir(x, sfreq, l_freq, h_freq):
    """mne's zero-phase IIR (filter_data(..., method="iir")): odd padding of its ringing length."""
    params = _iir_design(sfreq, l_freq, h_freq)
    padlen = min(params["padlen"], x.shape[-1] - 1)
    # float64: the poles of a low edge (0.5 Hz at 500 Hz) sit too close to 1 for float32
    return sosfiltfilt(params["sos"], x.astype(np.float64), axis=-1, padtype="odd", padlen=padlen)


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
        if freq + half_bandwidth(freq) >= nyquist:
            skipped.append(f"notch {freq:g} Hz skipped: its stop band reaches the input's Nyquist "
                           f"frequency ({nyquist:g} Hz)")
        else:
            notch.append(float(freq))
    l_freq = spec.l_freq
    lengths = []
    if l_freq is not None or h_freq is not None:
        lengths.append(_band_fir_length(sfreq, l_freq, h_freq))
    if notch:  # one band-stop FIR for all notches (same transition bands)
        lengths.append(_notch_fir_length(sfreq, notch[0]))
    window_highpass = l_freq is not None and n_times / sfreq >= HIGHPASS_PERIODS / l_freq
    return FilterPlan(source="card", sfreq=sfreq, l_freq=l_freq, h_freq=h_freq, notch=tuple(notch),
                      skipped=tuple(skipped), fir_lengths=tuple(lengths), window_highpass=window_highpass,
                      n_times=n_times, card_filters=stated)
