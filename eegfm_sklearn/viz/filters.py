"""Frequency response of the filters the adapter applies (the card's pretraining filters).

Both responses are measured on the adapter's own filter functions, not on a
re-derived design: the continuous one by filtering an impulse with
``FilterPlan.filter_continuous`` (what ``raw.filter`` + ``raw.notch_filter``
do), the per-window one by passing steady sinusoids through
``FilterPlan.filter_windows`` (detrending, IIR/FIR, notch projection).
"""

from __future__ import annotations

import numpy as np

from ._common import figure_and_axes

FORMS = ("continuous", "windows", "both")
FLOOR_DB = -120.0


def _plan_of(source, sfreq, window_seconds):
    """The FilterPlan of a fitted estimator, a FilterPlan, or a card (name) at ``sfreq``."""
    from ..preprocessing.filtering import FilterPlan, plan_filters

    if isinstance(source, FilterPlan):
        return source
    if hasattr(source, "get_params") and hasattr(source, "fit"):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(source, "adapter_")
        if sfreq is not None or window_seconds is not None:
            raise ValueError("A fitted estimator's filters are planned for its input: leave sfreq and "
                             "window_seconds unset.")
        return source.adapter_.filter_plan_
    from ..cards import get_model_card

    card = get_model_card(source)
    if sfreq is None or not float(sfreq) > 0:
        raise ValueError(f"Give the input's sampling rate (sfreq > 0, Hz): filters run at the input rate; "
                         f"got sfreq={sfreq!r}.")
    if window_seconds is not None and not float(window_seconds) > 0:
        raise ValueError(f"window_seconds must be > 0; got {window_seconds!r}.")
    n_times = 0 if window_seconds is None else round(float(window_seconds) * float(sfreq))
    return plan_filters(card, float(sfreq), n_times)


def _continuous_response(plan):
    """(freqs, gain) of ``filter_continuous`` from its impulse response (zero-phase: gain = |H|)."""
    # an impulse with more than the filters' length of zeros on each side: no edge effect reaches it
    n = 1 << int(np.ceil(np.log2(max(4 * plan.context + 1, 8192))))
    impulse = np.zeros((1, n))
    impulse[0, n // 2] = 1.0
    h = plan.filter_continuous(impulse)[0]
    return np.fft.rfftfreq(n, 1.0 / plan.sfreq), np.abs(np.fft.rfft(h))


def _windows_response(plan, freqs):
    """Gain of ``filter_windows`` for steady sinusoids filling one window, averaged over phase."""
    t = np.arange(plan.n_times) / plan.sfreq
    phase = 2 * np.pi * freqs[:, None] * t
    x = np.stack([np.cos(phase), np.sin(phase)], axis=1)  # (n_freqs, 2, n_times)
    y = plan.filter_windows(x).astype(float)
    return np.sqrt((y ** 2).sum(axis=(1, 2)) / (x ** 2).sum(axis=(1, 2)))


def filter_response(source, sfreq=None, window_seconds=None, form="continuous", n_freqs=400, freqs=None):
    """Gain of the adapter's filters against frequency.

    Parameters
    ----------
    source : fitted estimator or FilterPlan or str or ModelCard
        A fitted estimator (its adapter's filters), a
        :class:`~eegfm_sklearn.filtering.FilterPlan`, or a model (name or
        card) whose filters are planned at ``sfreq``.
    sfreq : float or None, default=None
        Input sampling rate (Hz), for a model only.
    window_seconds : float or None, default=None
        Window length, for a model only; needed for ``form="windows"``.
    form : {"continuous", "windows"}, default="continuous"
        ``"continuous"``: the filters of a continuous recording (mne's
        zero-phase FIR band-pass and FIR notch), the magnitude of the
        impulse response's spectrum. ``"windows"``: the per-window filters,
        the RMS gain of a sinusoid filling the window (cosine and sine
        together); not time-invariant, so this is the gain of steady
        sinusoids only.
    n_freqs : int, default=400
        ``"windows"`` only: log-spaced frequencies from the lowest
        plotted frequency to just below Nyquist.
    freqs : array-like of shape (n_freqs_out,) or None, default=None
        Frequencies (Hz) to evaluate instead: exactly for ``"windows"``,
        interpolated on the impulse response's fine grid (``sfreq / 2**k``,
        at most ``sfreq / 8192`` Hz apart) for ``"continuous"``.

    Returns
    -------
    freqs : ndarray, shape (n_freqs_out,)
        Hz.
    gain : ndarray, shape (n_freqs_out,)
        Linear amplitude gain (1 = passed unchanged).
    """
    plan = _plan_of(source, sfreq, window_seconds)
    if not plan.active:
        raise ValueError(f"No filter to plot: {plan.describe(False)}.")
    if freqs is not None:
        freqs = np.asarray(freqs, dtype=float).ravel()
        if not ((freqs >= 0) & (freqs <= plan.sfreq / 2)).all():
            raise ValueError(f"freqs must lie in [0, {plan.sfreq / 2:g}] Hz (the input's Nyquist frequency).")
    if form == "continuous":
        grid, gain = _continuous_response(plan)
        return (grid, gain) if freqs is None else (freqs, np.interp(freqs, grid, gain))
    if form == "windows":
        if not plan.n_times:
            raise ValueError("form='windows' needs the window length: pass window_seconds= (or a fitted estimator).")
        if freqs is None:
            freqs = np.geomspace(_lowest_freq(plan), 0.995 * plan.sfreq / 2, int(n_freqs))
        return freqs, _windows_response(plan, freqs)
    raise ValueError(f"form={form!r}; use 'continuous' or 'windows'.")


def _lowest_freq(plan):
    """A fifth of the lowest edge, notch or window frequency: the left end of the plot."""
    marks = [f for f in (plan.l_freq, plan.h_freq, *plan.notch) if f is not None]
    if plan.n_times:
        marks.append(plan.sfreq / plan.n_times)
    return 0.2 * min(marks)


def _db(gain):
    return np.maximum(20 * np.log10(np.maximum(gain, 1e-12)), FLOOR_DB)


def plot_filter_response(source, sfreq=None, window_seconds=None, form=None, ax=None):
    """Frequency response of the card's filters as the adapter applies them, in dB.

    Parameters
    ----------
    source : fitted estimator or FilterPlan or str or ModelCard
        A fitted estimator (its ``adapter_.filter_plan_``: the input rate
        and window length it was fitted on), a ``FilterPlan``, or a model
        name / :class:`~eegfm_sklearn.cards.ModelCard` planned at ``sfreq``.
    sfreq : float or None, default=None
        Input sampling rate (Hz), for a model only: the filters run at the
        input's rate, before resampling.
    window_seconds : float or None, default=None
        Window length (s), for a model only: adds the per-window response.
    form : {None, "continuous", "windows", "both"}, default=None
        Which response to draw (see :func:`filter_response`); None draws
        both when the window length is known, else the continuous one.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One line per form (x: Hz, log scale; y: gain in dB, floored at
        -120 dB), dotted verticals at the band edges and notches; edges
        skipped at this rate are named in the title.

    Raises
    ------
    ValueError
        No filter applies (the card states none, or ``filters=None``), or a
        model without ``sfreq``.
    """
    plan = _plan_of(source, sfreq, window_seconds)
    if not plan.active:
        raise ValueError(f"No filter to plot: {plan.describe(False)}.")
    if form is None:
        form = "both" if plan.n_times else "continuous"
    if form not in FORMS:
        raise ValueError(f"form={form!r}; use one of {FORMS} or None.")
    forms = ("continuous", "windows") if form == "both" else (form,)
    labels = {
        "continuous": "continuous recording (mne FIR: raw.filter, raw.notch_filter)",
        "windows": f"per {plan.n_times / plan.sfreq:g} s window (detrend / IIR / FIR / notch projection)",
    }
    fig, ax = figure_and_axes(ax, figsize=(7.0, 4.0))
    low = _lowest_freq(plan)
    for name in forms:
        freqs, gain = filter_response(plan, form=name)
        keep = freqs >= low
        ax.plot(freqs[keep], _db(gain[keep]), label=labels[name])
    ax.set_xscale("log")
    ax.set_xlim(low, plan.sfreq / 2)
    edges = [(f, what) for f, what in [(plan.l_freq, "high-pass"), (plan.h_freq, "low-pass"),
                                       *[(f, "notch") for f in plan.notch]] if f is not None]
    for f, _ in edges:
        ax.axvline(f, color="0.5", linestyle=":", linewidth=1)
    ax.set_ylim(-80, 6)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("gain (dB)")
    ax.legend(loc="lower left", fontsize="small")
    skipped = f"\n{'; '.join(s.split(':')[0] for s in plan.skipped)}" if plan.skipped else ""
    ax.set_title(f"Filters at the input rate {plan.sfreq:g} Hz (card: {plan.card_filters}){skipped}",
                 fontsize="medium")
    fig.canvas.draw()  # the layout settled: the labels' boxes are measured as drawn
    placed = []
    for f, what in sorted(edges):
        # up the line until it clears the labels placed before (50 and 60 Hz notches at 5 kHz overlapped)
        for height in (0.25, 0.55, 0.05, 0.8):
            text = ax.annotate(f"{what} {f:g} Hz", (f, height), xycoords=("data", "axes fraction"), rotation=90,
                               fontsize="x-small", ha="right", va="bottom", color="0.3")
            text.set_in_layout(False)
            box = text.get_window_extent(fig.canvas.get_renderer())
            if not any(box.overlaps(b) for b in placed):
                break
            text.remove()
        else:
            text = ax.annotate(f"{what} {f:g} Hz", (f, 0.25), xycoords=("data", "axes fraction"), rotation=90,
                               fontsize="x-small", ha="right", va="bottom", color="0.3")
        text.set_in_layout(False)
        placed.append(text.get_window_extent(fig.canvas.get_renderer()))
    return fig
