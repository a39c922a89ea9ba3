"""The input adapter: the user's montage, rate and units -> a card's contract.

``InputAdapter.fit`` plans every step once (which slot comes from which
channel, the resampling filter, the window length, dataset-level scaling
statistics); ``transform`` applies the plan, in float32:

    channels (one linear map: match / derive / interpolate / zero)
    -> units to µV -> resample -> crop or pad -> the card's scaling

mne supplies the channel map's spherical-spline weights; the resampling is
mne's polyphase filter run as one convolution (``resampling.py``), because
it sits on the inference path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import mne
import numpy as np

from .channels import find_channel, index_user_channels, normalize_name
from .resampling import PolyphaseResampler
from .scaling import to_microvolts

MISSING_POLICIES = ("interpolate", "zero")
# Windows adapted per pass: the float32 temporaries of a pass stay in cache and are reused
# (BIOT, 128 windows of 19 x 2000: 30 ms in passes of 16-64, 45 ms in one pass of 128).
CHUNK = 32
WINDOW_POLICIES = ("crop", "pad")


class ChannelWarning(UserWarning):
    """A slot was zero-filled or a user channel goes unused."""


@dataclass(frozen=True)
class ChannelReport:
    """What the adapter did for each slot of the backbone.

    Attributes
    ----------
    slots : tuple of str, length n_slots
        Slot names in the backbone's order.
    status : tuple of str, length n_slots
        ``"matched"``, ``"derived"``, ``"interpolated"`` or ``"zero"``.
    sources : tuple of str, length n_slots
        The user channel(s) each slot was computed from.
    unused : tuple of str
        User channels that feed no slot.
    """

    slots: tuple[str, ...]
    status: tuple[str, ...]
    sources: tuple[str, ...]
    unused: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str]:
        """Slot name -> status."""
        return dict(zip(self.slots, self.status))

    def count(self, status: str) -> int:
        """Number of slots with a given status."""
        return sum(s == status for s in self.status)

    def __str__(self):
        width = max((len(s) for s in self.slots), default=4)
        rows = [f"{slot:<{width}}  {st:<12}  {src}" for slot, st, src in zip(self.slots, self.status, self.sources)]
        if self.unused:
            rows.append(f"unused input channels: {', '.join(self.unused)}")
        return "\n".join(rows)


@dataclass
class _ChannelPlan:
    matrix: np.ndarray  # (n_slots, n_in)
    report: ChannelReport
    extra: dict = field(default_factory=dict)


def standard_montage():
    """The template 10-05 montage (mne renamed standard_1005 to colin27_1005)."""
    name = "colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages() else "standard_1005"
    return mne.channels.make_standard_montage(name)


def head_positions(montage, names=None):
    """Electrode positions in mne's head frame, keyed by upper-case name.

    Parameters
    ----------
    montage : DigMontage
    names : list of str or None
        Only these (case-insensitive); default all.

    Returns
    -------
    positions : dict
        Upper-case name -> ndarray of shape (3,), metres.
    """
    names = montage.ch_names if names is None else [n for n in montage.ch_names if n.upper() in
                                                    {m.upper() for m in names}]
    info = mne.create_info(list(names), 1000.0, "eeg")
    info.set_montage(montage, on_missing="ignore", verbose=False)
    return {ch["ch_name"].upper(): ch["loc"][:3].copy() for ch in info["chs"]
            if np.all(np.isfinite(ch["loc"][:3])) and np.any(ch["loc"][:3])}


def _interpolation_weights(n_in, sources, targets):
    """Rows of spherical-spline weights (n_targets, n_in) computed by mne.

    ``sources`` are (input index, position), ``targets`` name -> position.
    Runs mne's ``interpolate_bads`` on an identity signal: because the
    interpolation is linear, the bad channels' rows are the weights.
    """
    src_names = [f"src{i}" for i, _ in sources]
    ch_pos = {name: pos for name, (_, pos) in zip(src_names, sources)}
    ch_pos.update({f"dst{k}": pos for k, pos in enumerate(targets.values())})
    info = mne.create_info(list(ch_pos), sfreq=1000.0, ch_types="eeg")
    data = np.zeros((len(ch_pos), len(sources)))
    data[: len(sources)] = np.eye(len(sources))
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.set_montage(mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head"), verbose=False)
    raw.info["bads"] = [n for n in ch_pos if n.startswith("dst")]
    raw.interpolate_bads(reset_bads=True, origin="auto", verbose=False)
    out = np.zeros((len(targets), n_in))
    out[:, [i for i, _ in sources]] = raw.get_data()[len(sources):]
    return out


def plan_channels(scheme, user_names, missing="interpolate", positions=None):
    """Plan the linear map from the user's channels to a scheme's slots.

    Parameters
    ----------
    scheme : ChannelScheme
        The card's channel scheme.
    user_names : list of str, length n_in
        Channel names of the input.
    missing : {"interpolate", "zero"}
        What to do with slots whose electrodes the data lacks.
    positions : dict or None
        Input channel name -> head-frame position (from the recording's
        montage). Channels without one use the template 10-05 position of
        their name.

    Returns
    -------
    plan : _ChannelPlan
        ``matrix`` of shape (n_slots, n_in) and its ``ChannelReport``.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing_channels={missing!r}; use one of {MISSING_POLICIES}.")
    index = index_user_channels(user_names)
    slots = scheme.slots(user_names)
    rows, status, sources, to_interp = [], [], [], {}
    used = set()
    for slot in slots:
        row = np.zeros(len(user_names))
        direct = find_channel(slot, index)
        if direct is not None:
            row[direct] = 1.0
            used.add(direct)
            rows.append(row), status.append("matched"), sources.append(user_names[direct])
            continue
        electrodes = scheme.electrodes(slot)
        found = [find_channel(e, index) for e in electrodes]
        weights = scheme.combine(slot)
        if all(i is not None for i in found):
            for i, w in zip(found, weights):
                row[i] += w
            used.update(found)
            kind = "derived" if len(found) > 1 else "matched"
            src = " - ".join(user_names[i] for i in found)
            rows.append(row), status.append(kind), sources.append(src)
            continue
        if missing == "zero":
            rows.append(row), status.append("zero"), sources.append("")
            continue
        for i, (e, w) in enumerate(zip(electrodes, weights)):
            if found[i] is None:
                to_interp.setdefault(e, []).append((len(rows), w))
            else:
                row[found[i]] += w
                used.add(found[i])
        src = " - ".join(user_names[i] if i is not None else f"~{e}" for e, i in zip(electrodes, found))
        rows.append(row), status.append("interpolated"), sources.append(src)

    template = head_positions(standard_montage()) if to_interp or not used else {}
    located = []  # (input index, position) of channels usable for interpolation
    for i, name in enumerate(user_names):
        pos = (positions or {}).get(name)
        pos = pos if pos is not None else template.get(normalize_name(name))
        if pos is not None:
            located.append((i, pos))
    nothing_found = not used and (missing == "zero" or len(located) < 3)
    if not slots or nothing_found:
        # Positions help only a scheme with fixed slots (interpolation); one that reads
        # channels by name (a vocabulary) has no slot to interpolate into.
        positions_help = bool(slots)
        raise ValueError(
            f"None of the channels {list(user_names)} maps onto this model's channels "
            f"({scheme.describe()}). Rename your channels to 10-20 names "
            "(e.g. 'Fp1', 'C3', 'T7'; 'EEG Fp1' and 'Fp1-REF' are understood too)"
            + (", or give their positions (an mne object with a montage, or the montage= param)."
               if positions_help else "; this model reads channels by name, so positions cannot stand in.")
        )
    matrix = np.array(rows).reshape(len(slots), len(user_names))
    if to_interp:
        unknown = [e for e in to_interp if e.upper() not in template]
        if len(located) < 3 or unknown:
            raise ValueError(
                f"Cannot interpolate {sorted(to_interp)}: need template positions for them and "
                f"positions for at least 3 input channels (found {len(located)}). Pass "
                "missing_channels='zero', or a montage giving your channels' positions."
            )
        weights = _interpolation_weights(len(user_names), located, {e: template[e.upper()] for e in to_interp})
        for wrow, targets in zip(weights, to_interp.values()):
            for slot_row, w in targets:
                matrix[slot_row] += w * wrow
        used.update(i for i, _ in located)
    unused = tuple(n for i, n in enumerate(user_names) if i not in used)
    report = ChannelReport(tuple(slots), tuple(status), tuple(sources), unused)
    return _ChannelPlan(matrix=matrix, report=report)


def slot_positions(card, report, positions=None):
    """Head-frame position of every slot, for cards that place channels by position.

    A slot fed by one input channel takes that channel's position (from the
    recording or montage); otherwise the template 10-05 position of its name.

    Parameters
    ----------
    card : ModelCard
    report : ChannelReport
    positions : dict or None
        Input channel name -> position (m).

    Returns
    -------
    positions : ndarray of shape (n_slots, 3)

    Raises
    ------
    ValueError
        Naming every slot with no known position.
    """
    template = None
    out, unknown = [], []
    for slot, source in zip(report.slots, report.sources):
        pos = (positions or {}).get(source)
        if pos is None:
            template = head_positions(standard_montage()) if template is None else template
            pos = template.get(normalize_name(slot))
        if pos is None:
            unknown.append(slot)
        out.append(pos)
    if unknown:
        raise ValueError(
            f"{card.name} places channels by their 3-D positions, and none is known for {unknown}. "
            "Pass an mne object whose info has a montage, or montage= (a DigMontage or a "
            "standard montage name), or use standard 10-05 channel names."
        )
    return np.asarray(out, dtype=float).reshape(len(out), 3)


def _ratio(sfreq_in, sfreq_out):
    frac = Fraction(sfreq_out / sfreq_in).limit_denominator(10_000)
    return frac.numerator, frac.denominator


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
    window_policy : {"crop", "pad"}
        Shorten windows to the last accepted length, or zero-pad up to the
        next accepted one.
    positions : dict or None
        Input channel name -> head-frame position, for interpolation from
        montages without 10-20 names.

    Attributes
    ----------
    report_ : ChannelReport
    matrix_ : ndarray, shape (n_slots, n_chans)
        Channel map, in µV per input unit.
    n_times_out_ : int
        Samples per window the backbone receives.
    stats_ : dict
        Dataset-level statistics of the card's scaling.
    steps_ : list of str
        Human-readable log of what the adapter does.
    """

    def __init__(self, card, sfreq, ch_names, units="uV", missing="interpolate",
                 window_policy="crop", positions=None):
        self.card = card
        self.sfreq = float(sfreq)
        self.ch_names = list(ch_names)
        self.units = units
        self.missing = missing
        self.window_policy = window_policy
        self.positions = positions

    # -- planning ---------------------------------------------------------
    def fit(self, X):
        """Plan the adaptation for windows like ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Training windows in ``units``.
        """
        return self.fit_chunks([X], X.shape[-1])

    def fit_chunks(self, chunks, n_times_in):
        """``fit`` on windows arriving in chunks (a long recording): bounded memory.

        Parameters
        ----------
        chunks : iterable of ndarray, each of shape (n_windows, n_chans, n_times_in)
            Training windows in ``units``.
        n_times_in : int
            Window length.
        """
        self._plan(int(n_times_in))
        stats = [self.card.scaling.fit(self._before_scaling(c)) for c in chunks]
        if not stats:
            raise ValueError("No windows to fit the adapter on.")
        self.stats_ = stats[0] if len(stats) == 1 else self.card.scaling.merge(stats)
        self._warn()
        return self

    def restore(self, n_times_in, stats):
        """Re-create a fitted adapter without data (for saved estimators).

        Parameters
        ----------
        n_times_in : int
            Window length seen in ``fit``.
        stats : dict
            The scaling statistics learned in ``fit`` (``stats_``).
        """
        self._plan(int(n_times_in))
        self.stats_ = dict(stats)
        return self

    def _plan(self, n_times_in):
        if self.window_policy not in WINDOW_POLICIES:
            raise ValueError(f"window_policy={self.window_policy!r}; use one of {WINDOW_POLICIES}.")
        plan = plan_channels(self.card.channels, self.ch_names, self.missing, self.positions)
        self.report_ = plan.report
        self.slot_positions_ = (slot_positions(self.card, plan.report, self.positions)
                                if self.card.uses_positions else None)
        self.matrix_ = to_microvolts(plan.matrix, self.units)
        self.up_, self.down_ = _ratio(self.sfreq, self.card.sfreq)
        self.n_times_in_ = n_times_in
        self.n_times_resampled_ = int(np.ceil(n_times_in * self.up_ / self.down_))
        self.n_times_out_ = self._accepted_length(self.n_times_resampled_)
        self.resampler_ = None
        if (self.up_, self.down_) != (1, 1):
            self.resampler_ = PolyphaseResampler(self.up_, self.down_, n_times_in)
        self.steps_ = self._describe()

    def _warn(self):
        zeros = [s for s, st in zip(self.report_.slots, self.report_.status) if st == "zero"]
        if zeros:
            warnings.warn(f"Zero-filled {len(zeros)} slot(s) of {self.card.name}: {zeros}. "
                          "Pass missing_channels='interpolate' to estimate them instead.",
                          ChannelWarning, stacklevel=5)
        if self.report_.unused:
            warnings.warn(f"{self.card.name} does not use input channel(s) {list(self.report_.unused)}.",
                          ChannelWarning, stacklevel=5)

    def _accepted_length(self, n):
        w = self.card.window
        seconds = n / self.card.sfreq
        if n < w.min_samples:
            raise ValueError(
                f"Windows are too short for {self.card.name}: {self.n_times_in_} samples at "
                f"{self.sfreq:g} Hz ({seconds:.2f} s); it needs at least {w.min_samples} samples "
                f"at {self.card.sfreq:g} Hz ({w.min_samples / self.card.sfreq:.2f} s). Cut longer windows."
            )
        if self.window_policy == "pad":
            out = -(-n // w.multiple) * w.multiple
        else:
            out = n // w.multiple * w.multiple
        if w.max_samples is not None and out > w.max_samples:
            raise ValueError(
                f"Windows are too long for {self.card.name}: {seconds:.2f} s at {self.card.sfreq:g} Hz "
                f"gives {out} samples, above its maximum of {w.max_samples} "
                f"({w.max_samples / self.card.sfreq:.2f} s). Cut shorter windows."
            )
        return out

    def _describe(self):
        rep = self.report_
        steps = [
            f"channels: {len(rep.slots)} slots ({rep.count('matched')} matched, {rep.count('derived')} derived, "
            f"{rep.count('interpolated')} interpolated, {rep.count('zero')} zero-filled)"
            + (f"; unused inputs: {', '.join(rep.unused)}" if rep.unused else ""),
        ]
        if to_microvolts(1.0, self.units) != 1.0:
            steps.append(f"units: {self.units} -> µV")
        if (self.up_, self.down_) != (1, 1):
            steps.append(f"resample: {self.sfreq:g} Hz -> {self.card.sfreq:g} Hz (polyphase, x{self.up_}/{self.down_})")
        if self.n_times_out_ != self.n_times_resampled_:
            verb = "pad" if self.n_times_out_ > self.n_times_resampled_ else "crop"
            steps.append(f"{verb}: {self.n_times_resampled_} -> {self.n_times_out_} samples "
                         f"(multiple of {self.card.window.multiple})")
        steps.append(f"scaling: {self.card.scaling.describe()}")
        return steps

    # -- applying ---------------------------------------------------------
    def _before_scaling(self, X):
        # (s, c) @ (n, c, t) -> (n, s, t): BLAS (einsum is not, here), float32 as the backbone
        M, X = self.matrix_.astype(np.float32), np.asarray(X, dtype=np.float32)
        if self.resampler_ is None:
            X = M @ X
        elif M.shape[1] < M.shape[0]:  # both steps are linear: resample the side with fewer channels
            X = M @ self.resampler_(X)
        else:
            X = self.resampler_(M @ X)
        return X[..., : min(self.n_times_out_, X.shape[-1])]

    def transform(self, X):
        """Adapt windows.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Windows in ``units``, with the channels and length seen in ``fit``.

        Returns
        -------
        Xt : ndarray of float32, shape (n_trials, n_slots + extra, n_times_out_)
            What the backbone reads.
        """
        if X.shape[-1] != self.n_times_in_:
            raise ValueError(
                f"Windows have {X.shape[-1]} samples but the estimator was fitted on "
                f"{self.n_times_in_}; cut windows of the same length (or refit)."
            )
        if len(X) <= CHUNK:
            return self._transform_chunk(X)
        first = self._transform_chunk(X[:CHUNK])
        out = np.empty((len(X),) + first.shape[1:], dtype=np.float32)
        out[:CHUNK] = first
        for start in range(CHUNK, len(X), CHUNK):
            out[start : start + CHUNK] = self._transform_chunk(X[start : start + CHUNK])
        return out

    def _transform_chunk(self, X):
        Xt = self.card.scaling.apply(self._before_scaling(X), self.stats_)
        if Xt.shape[-1] < self.n_times_out_:
            pad = self.n_times_out_ - Xt.shape[-1]
            Xt = np.pad(Xt, ((0, 0), (0, 0), (0, pad)))
        return np.ascontiguousarray(Xt, dtype=np.float32)
