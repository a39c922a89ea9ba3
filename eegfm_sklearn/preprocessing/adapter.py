"""The input adapter: the user's montage, rate and units -> a card's contract.

``InputAdapter.fit`` plans every step once (which slot comes from which
channel, the resampling filter, the window length, dataset-level scaling
statistics); ``transform`` applies the plan, in float32:

    [split long trials into sub-windows] -> the card's filters (``filtering.py``,
    at the input rate) -> channels (one linear map: match / derive /
    interpolate / zero) -> units to µV -> resample -> crop -> the card's
    scaling -> [pad short windows]

For a continuous recording the filters run before windowing
(``prefiltered=True`` windows skip them).

mne supplies the channel map's spherical-spline weights; the resampling is
mne's polyphase filter computed in batched float32 (``resampling.py``),
because it sits on the inference path. Window policies (pad / split) are in
``windowing.py``.
"""

from __future__ import annotations

import numpy as np

from ..utils._warn import warn
from .filtering import plan_filters
from .fused import apply_fused, fused_matrix, worth_fusing
from .montage import (  # noqa: F401  (re-exported: the adapter's public names)
    MISSING_POLICIES,
    ChannelReport,
    ChannelWarning,
    _map_channels,
    estimation_notice,
    head_positions,
    plan_channels,
    slot_positions,
    standard_montage,
)
from .resampling import PolyphaseResampler, choose_ratio
from .scaling import to_microvolts
from .windowing import SplitPlan, pad_end

# Windows adapted per pass: the float32 temporaries of a pass stay in cache and are reused
# (BIOT, 128 windows of 19 x 2000: 30 ms in passes of 16-64, 45 ms in one pass of 128).
CHUNK = 32
# Sub-windows of a split cut at once in fit (float32, input rate); more are cut piece by piece.
SPLIT_BUDGET_BYTES = 64 * 2**20


def check_window_length(card, sfreq, n_times, window_policy="crop", max_window_seconds=None):
    """Refuse a window too long for ``card`` from its shape alone, before any copy of the data.

    The adapter's plan says the same later; a window of hours would by then have been copied and
    checked (several times its size in memory) only to be refused.
    """
    limit = card.window.max_samples
    if max_window_seconds is not None:  # with "split", the trial is cut: its length is not bounded
        return
    if window_policy == "split" or limit is None or not sfreq or n_times <= 0:
        return
    n_out = int(np.ceil(n_times * card.sfreq / float(sfreq)))
    if n_out <= limit + card.window.multiple:  # near the limit: the plan's exact rounding decides
        return
    raise ValueError(
        f"Windows are too long for {card.name}: {n_times / sfreq:.2f} s gives {n_out} samples at "
        f"{card.sfreq:g} Hz, above its maximum of {limit} ({limit / card.sfreq:.2f} s). Pass "
        "window_policy='split' to cut each trial into sub-windows and pool their outputs back to one row "
        "per trial.")


class InputAdapter:
    """Map windows in the user's montage, rate and units onto a card's contract.

    Parameters
    ----------
    card : ModelCard
        The model's card.
    sfreq : float
        Sampling rate of the input (Hz).
    ch_names : list of str, length n_chans
        Channel names of the input.
    units : str
        Units of the input (``"uV"``, ``"V"``, ``"mV"``).
    missing : {"interpolate", "zero"}
        Policy for slots the data lacks.
    window_policy : {"crop", "pad", "split"}
        ``"crop"``: shorten windows to the last accepted length.
        ``"pad"``: pad at the end up to the next accepted length, and up to
        the model's minimum for shorter windows. ``"split"``: cut trials
        longer than the model's maximum (or ``max_window_seconds``) into
        sub-windows; ``transform`` then returns ``n_sub_`` rows per trial.
    positions : dict or None
        Input channel name -> head-frame position, for interpolation from
        montages without 10-20 names.
    pad_mode : {"constant", "edge", "reflect"}
        How ``"pad"`` fills (``numpy.pad`` modes; constant is zeros).
    max_window_seconds : float or None
        ``"split"`` only: longest sub-window, below the model's maximum.
    split_overlap : float
        ``"split"`` only: overlap of consecutive sub-windows, a fraction in
        [0, 1).
    filters : {"card", None}
        Apply the card's pretraining filters, or none (data already filtered).

    Attributes
    ----------
    report_ : ChannelReport
    matrix_ : ndarray, shape (n_slots, n_chans)
        Channel map, in µV per input unit.
    n_times_out_ : int
        Samples per window the backbone receives.
    n_real_samples_ : int
        How many of those are data (the rest is padding).
    real_fraction_ : float
        ``n_real_samples_ / n_times_out_``.
    split_ : SplitPlan or None
        Sub-windows of each trial (``"split"`` with trials above the limit).
    n_sub_ : int
        Backbone windows per input trial (1 unless split).
    ratio_ : Ratio
        Resampling factors ``up_ / down_`` and their rate error.
    stats_ : dict
        Dataset-level statistics of the card's scaling.
    filter_plan_ : FilterPlan
        The card's filters at the input rate (continuous and per-window forms).
    continuous_ : bool
        Whether ``fit`` saw windows of a continuous recording filtered
        before windowing (the description names that form).
    steps_ : list of str
        Human-readable log of what the adapter does.
    """

    def __init__(self, card, sfreq, ch_names, units="uV", missing="interpolate",
                 window_policy="crop", positions=None, pad_mode="constant", max_window_seconds=None,
                 split_overlap=0.0, filters="card"):
        self.card = card
        self.sfreq = float(sfreq)
        self.ch_names = list(ch_names)
        self.units = units
        self.missing = missing
        self.window_policy = window_policy
        self.positions = positions
        self.pad_mode = pad_mode
        self.max_window_seconds = max_window_seconds
        self.split_overlap = split_overlap
        self.filters = filters

    # -- planning ---------------------------------------------------------
    def fit(self, X):
        """Plan the adaptation for windows like ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Training windows in ``units``.
        """
        return self.fit_chunks([X], X.shape[-1])

    def fit_chunks(self, chunks, n_times_in, prefiltered=False):
        """``fit`` on windows arriving in chunks (a long recording): bounded memory.

        Parameters
        ----------
        chunks : iterable of ndarray, each of shape (n_windows, n_chans, n_times_in)
            Training windows in ``units``.
        n_times_in : int
            Window length.
        prefiltered : bool
            The windows come from a recording already filtered by
            ``filter_plan_.reader`` (read lazily, after planning).
        """
        self._plan(int(n_times_in), continuous=prefiltered)
        scaling = self.card.scaling
        # a scaling without dataset statistics needs no pass over the training windows (every fold
        # of a cross-validation would pay for it)
        stats = [scaling.fit(self._before_scaling(c[trials], prefiltered, part)) if scaling.learns else {}
                 for c in chunks for trials, part in self._pieces(len(c))]
        if not stats:
            raise ValueError("No windows to fit the adapter on.")
        self.stats_ = stats[0] if len(stats) == 1 else self.card.scaling.merge(stats)
        self._warn()
        return self

    def restore(self, n_times_in, stats, continuous=False):
        """Re-create a fitted adapter without data (for saved estimators).

        Parameters
        ----------
        n_times_in : int
            Window length seen in ``fit``.
        stats : dict
            The scaling statistics learned in ``fit`` (``stats_``).
        continuous : bool
            ``continuous_`` of the fitted adapter.
        """
        self._plan(int(n_times_in), continuous=continuous)
        self.stats_ = dict(stats)
        return self

    def _plan(self, n_times_in, continuous=False):
        plan = plan_channels(self.card.channels, self.ch_names, self.missing, self.positions)
        self.report_ = plan.report
        self._estimated_notice = estimation_notice(self.card.name, plan.report, plan.extra.get("nearest"),
                                                   plan.extra.get("inputs", ()))
        self.slot_positions_ = (slot_positions(self.card, plan.report, self.positions)
                                if self.card.uses_positions else None)
        self.matrix_ = to_microvolts(plan.matrix, self.units)
        self.ratio_ = choose_ratio(self.sfreq, self.card.sfreq)
        self.up_, self.down_ = self.ratio_.up, self.ratio_.down
        self.filter_plan_ = plan_filters(self.card, self.sfreq, n_times_in, self.filters)
        self.continuous_ = bool(continuous)
        self.n_times_in_ = n_times_in
        self.split_ = self._plan_split(n_times_in)
        self.n_sub_ = 1 if self.split_ is None else self.split_.n_sub
        n_window = n_times_in if self.split_ is None else self.split_.length
        self.n_times_resampled_ = -(-n_window * self.up_ // self.down_)
        self.n_times_out_ = self._accepted_length(self.n_times_resampled_)
        self.n_real_samples_ = min(self.n_times_resampled_, self.n_times_out_)
        self.real_fraction_ = self.n_real_samples_ / self.n_times_out_
        self.resampler_ = None
        if (self.up_, self.down_) != (1, 1):
            self.resampler_ = PolyphaseResampler(self.up_, self.down_, n_window)
        self.steps_ = self._describe()

    def _limit(self):
        """Longest window (model samples) allowed: the card's maximum or ``max_window_seconds``."""
        limit = self.card.window.max_samples
        if self.max_window_seconds is not None:
            user = int(np.floor(self.max_window_seconds * self.card.sfreq + 1e-9))
            limit = user if limit is None else min(limit, user)
        return limit

    def _plan_split(self, n_times_in):
        """Sub-windows for ``"split"`` when trials resample above the limit, else None."""
        limit = self._limit()
        if self.window_policy != "split" or limit is None or -(-n_times_in * self.up_ // self.down_) <= limit:
            return None
        w = self.card.window
        target = limit // w.multiple * w.multiple
        if target < w.min_samples:
            raise ValueError(
                f"max_window_seconds={self.max_window_seconds} is below {self.card.name}'s minimum window "
                f"({w.min_samples / self.card.sfreq:.2f} s); raise it."
            )
        # input samples whose resampled length reaches `target` (then cropped to it)
        length = min(-(-target * self.down_ // self.up_), n_times_in)
        return SplitPlan.make(n_times_in, length, self.split_overlap)

    def _pieces(self, n_trials):
        """(trials, sub-windows) slices whose cut sub-windows fit ``SPLIT_BUDGET_BYTES`` (one piece if all do)."""
        if self.split_ is None:
            return [(slice(None), slice(None))]
        per_sub = len(self.ch_names) * self.split_.length * 4  # float32 at the input rate
        n_sub = self.split_.n_sub
        if n_trials * n_sub * per_sub <= SPLIT_BUDGET_BYTES:
            return [(slice(None), slice(None))]
        if n_sub * per_sub <= SPLIT_BUDGET_BYTES:  # whole trials, a few at a time
            step = max(1, SPLIT_BUDGET_BYTES // (n_sub * per_sub))
            return [(slice(t, t + step), slice(None)) for t in range(0, n_trials, step)]
        step = max(1, SPLIT_BUDGET_BYTES // per_sub)  # one trial, its sub-windows a batch at a time
        return [(slice(t, t + 1), slice(a, a + step)) for t in range(n_trials) for a in range(0, n_sub, step)]

    def _resample_first(self):
        """Resample the inputs, then map them to the slots (else map at the input rate, then resample).

        Fewer inputs than slots; or as many, when downsampling: mapped first, a copy of the whole
        input at its rate was the adapter's largest allocation.
        """
        n_slots, n_chans = self.matrix_.shape
        return self.resampler_ is not None and (n_chans < n_slots or (n_chans == n_slots and self.down_ > self.up_))

    def working_bytes(self, n_windows, n_sub=None, dtype=np.float32):
        """Upper bound of the memory (bytes) adapting ``n_windows`` windows holds besides the input.

        ``n_sub``: with a split, the sub-windows of each trial adapted at once (``part=``; default all).
        ``dtype``: the input's (float32 input is read in place; another is copied to float32).

        A pass adapts at most ``CHUNK`` windows (with a split: their sub-windows); at most five
        arrays of a pass's largest size are alive at once (a step's input, its output and up to three
        temporaries), plus the resampler's blocks (a padded copy, its gathered products and their
        output: each at most ``BLOCK_BYTES`` or the rows they hold), plus the adapted output of all
        ``n_windows`` windows (float32). ``benchmarks/bench_memory_guards.py`` compares this with
        the measured peak.
        """
        from .resampling import BLOCK_BYTES

        n_sub = self.n_sub_ if n_sub is None else min(int(n_sub), self.n_sub_)
        n_trials = min(int(n_windows), CHUNK)
        k = n_trials * n_sub  # windows (sub-windows) of a pass
        n_in = self.n_times_in_ if self.split_ is None else self.split_.length
        n_slots, n_chans = self.matrix_.shape
        n_out = n_slots + self.card.scaling.n_extra_channels
        n_res = self.n_times_resampled_
        sizes = [k * n_slots * n_res, k * n_out * self.n_times_out_]
        if self._resample_first():
            sizes.append(k * n_chans * n_res)
        else:  # mapped at the input rate
            sizes.append(k * n_slots * n_in)
        whole = n_trials * n_chans * self.n_times_in_  # the pass's trials at the input rate
        if self.split_ is not None:
            sizes.append(k * n_chans * n_in)  # the cut sub-windows
        if np.dtype(dtype) != np.float32:
            sizes.append(whole)  # the float32 copy
        if self.filter_plan_.active:
            sizes += [whole, 2 * whole]  # filtered in float32, the IIR in float64
        blocks = 0
        if self.resampler_ is not None:
            rows = k * (n_chans if self._resample_first() else n_slots)
            blocks = 3 * min(BLOCK_BYTES, rows * self.resampler_.padded_length * 4)
        out = int(n_windows) * n_sub * n_out * self.n_times_out_ * 4
        return 5 * 4 * max(sizes) + blocks + out

    def _warn(self):
        zeros = [s for s, st in zip(self.report_.slots, self.report_.status) if st == "zero"]
        if zeros:
            warn(f"Zero-filled {len(zeros)} slot(s) of {self.card.name}: {zeros}. "
                 "Pass missing_channels='interpolate' to estimate them instead.",
                 ChannelWarning, stacklevel=5)
        notice = self.__dict__.get("_estimated_notice")
        if notice:
            warn(notice, ChannelWarning, stacklevel=5)
        if self.report_.unused:
            warn(f"{self.card.name} does not use input channel(s) {list(self.report_.unused)}.",
                 ChannelWarning, stacklevel=5)

    def _accepted_length(self, n):
        w = self.card.window
        minimum = -(-w.min_samples // w.multiple) * w.multiple
        if n < w.min_samples and self.window_policy != "pad":
            raise ValueError(
                f"Windows are too short for {self.card.name}: {self.n_times_in_} samples at "
                f"{self.sfreq:g} Hz ({self.n_times_in_ / self.sfreq:.2f} s); it needs at least "
                f"{w.min_samples / self.card.sfreq:.2f} s ({w.min_samples} samples at {self.card.sfreq:g} Hz). "
                f"Pass window_policy='pad' to pad each window up to {minimum / self.card.sfreq:.2f} s "
                "(zeros at the end; pad_mode='edge' or 'reflect' for others)."
            )
        limit = self._limit()
        out = n // w.multiple * w.multiple
        if self.window_policy == "pad":
            padded = max(-(-n // w.multiple) * w.multiple, minimum)
            out = padded if limit is None or padded <= limit else out
        if limit is not None and out > limit:
            # Split windows are planned below the limit; a window of the maximum duration whose
            # resampled length rounds above it (by the resampling's rounding) loses only that.
            at_limit = self.n_times_in_ <= np.ceil(limit / self.card.sfreq * self.sfreq) + 1
            if self.window_policy == "split" or at_limit:
                out = limit // w.multiple * w.multiple
            else:
                raise ValueError(
                    f"Windows are too long for {self.card.name}: {self.n_times_in_ / self.sfreq:.2f} s gives "
                    f"{out} samples at {self.card.sfreq:g} Hz, above its maximum of {limit} "
                    f"({limit / self.card.sfreq:.2f} s). Pass window_policy='split' to cut each trial into "
                    "sub-windows and pool their outputs back to one row per trial."
                )
        return out

    def _describe(self):
        rep = self.report_
        steps = [
            f"channels: {len(rep.slots)} slots ({rep.count('matched')} matched, {rep.count('derived')} derived, "
            f"{rep.count('interpolated')} interpolated, {rep.count('zero')} zero-filled)"
            + (f"; unused inputs: {', '.join(rep.unused)}" if rep.unused else "")
            + ("" if self.card.channels.aliases else "; names matched exactly (T3 is not T7), as the authors' mapping"),
        ]
        if to_microvolts(1.0, self.units) != 1.0:
            steps.append(f"units: {self.units} -> µV")
        if self.split_ is not None:
            sp = self.split_
            steps.append(
                f"split: each {sp.n_times_in / self.sfreq:.2f} s trial -> {sp.n_sub} sub-windows of "
                f"{sp.length / self.sfreq:.2f} s ({sp.length} samples, every {sp.stride}, the last one "
                "ending with the trial), pooled back to one row per trial"
            )
        steps.append(self.filter_plan_.describe(self.continuous_))
        if (self.up_, self.down_) != (1, 1):
            r, res = self.ratio_, self.resampler_
            steps.append(
                f"resample: {self.sfreq:g} Hz -> {self.card.sfreq:g} Hz (polyphase x{self.up_}/{self.down_}, "
                f"rate error {abs(r.rate_error) * 1e6:.2g} ppm; Kaiser-windowed sinc of {r.n_taps} taps, "
                f"{res.taps_per_output} input samples = {res.taps_per_output / self.sfreq:.3f} s per output)"
            )
        if self.n_times_out_ < self.n_times_resampled_:
            steps.append(f"crop: {self.n_times_resampled_} -> {self.n_times_out_} samples "
                         f"(multiple of {self.card.window.multiple})")
        steps.append(f"scaling: {self.card.scaling.describe()}")
        if self.n_times_out_ > self.n_times_resampled_:
            fill = "zeros" if self.pad_mode == "constant" else f"{self.pad_mode} values"
            steps.append(
                f"pad: {self.n_times_resampled_} -> {self.n_times_out_} samples at the end with {fill} "
                f"(pad_mode={self.pad_mode!r}); real: {self.n_real_samples_} of {self.n_times_out_} samples "
                f"({self.n_real_samples_ / self.card.sfreq:.2f} s of {self.n_times_out_ / self.card.sfreq:.2f} s, "
                f"{100 * self.real_fraction_:.0f} %)"
            )
        return steps

    # -- applying ---------------------------------------------------------
    def _before_scaling(self, X, prefiltered=False, part=slice(None)):
        # Channel map, filters and resampling are linear and commute: filter and resample the side
        # with fewer channels (filters always at the input rate, before resampling, and on whole
        # trials, before a split).
        M = self.matrix_.astype(np.float32)
        n_cols = min(self.n_times_out_, self.n_times_resampled_)
        if not prefiltered and self.split_ is None and worth_fusing(self.filter_plan_, self.n_times_in_, n_cols):
            # filters + resampling + crop as one matrix per (rate, length), built on first use (fused.py)
            A = fused_matrix(self.filter_plan_, self.up_, self.down_, self.n_times_in_, n_cols)
            if M.shape[1] <= M.shape[0]:
                return _map_channels(M, apply_fused(A, X), temporary=True)
            return apply_fused(A, _map_channels(M, np.asarray(X, dtype=np.float32)))
        windows_filter = None if prefiltered or not self.filter_plan_.active else self.filter_plan_.filter_windows
        if windows_filter is not None and (self.split_ is not None or M.shape[1] <= M.shape[0]):
            X, windows_filter = windows_filter(X), None
        X = np.asarray(X, dtype=np.float32)
        if self.split_ is not None:
            X = self.split_.cut(X, part)
        if self._resample_first():
            X = _map_channels(M, self.resampler_(X), temporary=True)
        else:
            X = _map_channels(M, X)
            if windows_filter is not None:
                X = np.asarray(windows_filter(X), dtype=np.float32)
            if self.resampler_ is not None:
                X = self.resampler_(X)
        return X[..., : min(self.n_times_out_, X.shape[-1])]

    def transform(self, X, prefiltered=False, part=None):
        """Adapt windows.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Windows in ``units``, with the channels and length seen in ``fit``.
        prefiltered : bool
            The windows were cut from a recording filtered by
            ``filter_plan_.reader`` (the per-window filters are skipped).
        part : slice or None
            With ``"split"``: only these sub-windows of each trial (a long
            trial is embedded a batch of sub-windows at a time).

        Returns
        -------
        Xt : ndarray of float32, shape (n_trials * n_sub_, n_slots + extra, n_times_out_)
            What the backbone reads; with ``"split"``, the ``n_sub_``
            sub-windows of each trial are consecutive rows.
        """
        if X.shape[-1] != self.n_times_in_:
            raise ValueError(
                f"Windows have {X.shape[-1]} samples but the estimator was fitted on "
                f"{self.n_times_in_}; cut windows of the same length (or refit)."
            )
        part = slice(None) if part is None or self.split_ is None else part
        if len(X) <= CHUNK:
            return self._transform_chunk(X, prefiltered, part)
        k = len(range(self.n_sub_)[part])
        first = self._transform_chunk(X[:CHUNK], prefiltered, part)
        out = np.empty((len(X) * k,) + first.shape[1:], dtype=np.float32)
        out[: CHUNK * k] = first
        for start in range(CHUNK, len(X), CHUNK):
            out[start * k : (start + CHUNK) * k] = self._transform_chunk(X[start : start + CHUNK], prefiltered,
                                                                          part)
        return out

    def _transform_chunk(self, X, prefiltered=False, part=slice(None)):
        Xt = self.card.scaling.apply(self._before_scaling(X, prefiltered, part), self.stats_)
        Xt = pad_end(Xt, self.n_times_out_, self.pad_mode)
        return np.ascontiguousarray(Xt, dtype=np.float32)
