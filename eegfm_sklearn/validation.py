"""Input checks: one place that turns what users pass into a checked array.

Accepts a numpy array (n_trials, n_chans, n_times) plus ``sfreq``,
``ch_names`` and ``units``, or an ``mne.Epochs`` (rate, names and units read
from the object; channels marked bad are left out so the adapter treats them
as missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import mne
import numpy as np
from scipy import sparse
from sklearn.utils.validation import validate_data

from .preprocessing.scaling import UNIT_TO_UV
from .utils._warn import warn


class UnitsWarning(UserWarning):
    """The input's amplitude or units look wrong for what was declared."""


# Median |x| per channel (µV) outside this range is not EEG in the declared units.
PLAUSIBLE_UV = (0.05, 5_000.0)


@dataclass(frozen=True)
class RecordingInfo:
    """What the adapter needs to know about the input besides its values."""

    sfreq: float
    ch_names: tuple[str, ...]
    units: str
    positions: dict | None = None  # channel name -> head-frame xyz (m)


def mne_recording_info(inst, sfreq=None, ch_names=None):
    """EEG picks and recording info of an mne Raw/Epochs object.

    Channels marked bad are left out (the adapter treats them as missing).

    Returns
    -------
    picks : ndarray of int
    info : RecordingInfo
        Units are V: mne stores EEG in volts whatever the file said.
    """
    kind = type(inst).__name__
    picks = mne.pick_types(inst.info, meg=False, eeg=True, seeg=True, ecog=True, exclude="bads")
    if len(picks) == 0:
        raise ValueError(f"The {kind} holds no EEG channels (bad channels are left out).")
    names = tuple(inst.ch_names[i] for i in picks)
    if sfreq is not None and not np.isclose(float(sfreq), inst.info["sfreq"]):
        raise ValueError(
            f"sfreq={sfreq} but the {kind} is sampled at {inst.info['sfreq']} Hz; "
            "leave sfreq=None for mne input."
        )
    if ch_names is not None and tuple(ch_names) != names:
        raise ValueError(f"ch_names differ from the {kind}'s channel names; leave ch_names=None for mne input.")
    positions = {}
    for i in picks:
        loc = inst.info["chs"][i]["loc"][:3]
        if np.all(np.isfinite(loc)) and np.any(loc):
            positions[inst.ch_names[i]] = loc.copy()
    return picks, RecordingInfo(float(inst.info["sfreq"]), names, "V", positions or None)


def _epochs_to_array(epochs, sfreq, ch_names):
    picks, info = mne_recording_info(epochs, sfreq, ch_names)
    return epochs.get_data(picks=picks), info


def check_eeg_input(estimator, X, *, sfreq, ch_names, units, reset, fitted_info=None, montage=None):
    """Validate ``X`` and return it with its recording info.

    Parameters
    ----------
    estimator : BaseEstimator
        Receives ``n_features_in_`` (= n_chans) when ``reset``.
    X : ndarray of shape (n_trials, n_chans, n_times) or mne.BaseEpochs
        The windows.
    sfreq, ch_names, units
        The estimator's params (used for numpy input).
    reset : bool
        True in ``fit``; False afterwards (then the channel count must match).
    fitted_info : RecordingInfo or None
        Info learned in ``fit``; numpy input with no params falls back to it.
    montage : str or DigMontage or None
        Positions of numpy input's channels (looked up by name).

    Returns
    -------
    X : ndarray of float32 or float64, shape (n_trials, n_chans, n_times)
        The input itself when it is a float32 or float64 array (not copied), else converted to float32.
    info : RecordingInfo
    """
    if isinstance(X, mne.io.BaseRaw):
        raise ValueError(
            "A continuous Raw recording needs cutting into windows: use FoundationTransformer with "
            "window_seconds= (and stride_seconds=), or mne.make_fixed_length_epochs(raw)."
        )
    if isinstance(X, mne.Evoked):
        raise ValueError(
            "Got an mne.Evoked: an average over trials, not windows. Pass the mne.Epochs it was "
            "averaged from (one window per trial), or evoked.data[np.newaxis] with sfreq= and "
            "ch_names= (units='V') to use the average as one window."
        )
    if isinstance(X, mne.BaseEpochs):
        X, info = _epochs_to_array(X, sfreq, ch_names)
    else:
        info = _numpy_info(X, sfreq, ch_names, units, fitted_info, montage)
    if sparse.issparse(X):
        raise TypeError(
            "Sparse data is not supported: X is a sparse matrix, but EEG windows are dense arrays "
            "(n_trials, n_chans, n_times); pass X.toarray() reshaped to windows."
        )
    X = np.asarray(X) if not hasattr(X, "shape") else X
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind == "c":
        raise ValueError(
            "Complex data not supported: X holds complex values. Pass the real signal "
            "(np.real(X)), or its envelope (np.abs(X)) if that is what you mean to embed."
        )
    if kind == "b":  # would be embedded as 0/1 µV
        raise ValueError(f"X holds booleans (dtype {X.dtype}), not a signal; pass the recorded values "
                         "(e.g. a mask is not EEG: apply it to the data instead).")
    if kind in ("U", "S"):
        raise ValueError(f"X holds strings (dtype {X.dtype}); pass the signal as numbers (float arrays).")
    if getattr(X, "ndim", None) != 3:
        raise ValueError(
            f"Expected a 3-D array (n_trials, n_chans, n_times); got shape {getattr(X, 'shape', None)}. "
            "Reshape your data: for one trial use X[np.newaxis]; for a filter bank, pass one band at a time."
        )
    if not reset and X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} channels but {type(estimator).__name__} was fitted on "
            f"{estimator.n_features_in_}; pass the same channels as in fit (or refit)."
        )
    if len(X) and 0 in X.shape[1:]:
        raise ValueError(f"X has windows of shape {X.shape[1:]}: every window needs at least one channel "
                         "and one sample.")
    # float32 and float64 kept as they are (the adapter computes in float32): a float64 copy of
    # float32 input was twice its size; other dtypes (integers, float16) become float32, which holds
    # ADC counts exactly up to 2**24
    X = validate_data(estimator, X, allow_nd=True, dtype=[np.float32, np.float64], reset=reset,
                      ensure_min_features=1)
    if X.shape[1] != len(info.ch_names):
        raise ValueError(
            f"ch_names has {len(info.ch_names)} names but X has {X.shape[1]} channels; "
            "pass one name per channel, in X's order."
        )
    if fitted_info is not None and (info.ch_names != fitted_info.ch_names or info.sfreq != fitted_info.sfreq):
        raise ValueError(
            "The channels or sampling rate differ from those seen in fit "
            f"({fitted_info.sfreq:g} Hz, {list(fitted_info.ch_names)}); refit on this layout."
        )
    if fitted_info is not None and info.units != fitted_info.units:
        # The adapter reads the units seen in fit (mne: V); convert what was declared now.
        X = X * (UNIT_TO_UV[info.units] / UNIT_TO_UV[fitted_info.units])
        info = fitted_info
    warn_implausible_amplitude(X, info.units)
    return X, info


def warn_implausible_amplitude(X, units):
    """Warn when X's typical amplitude is not EEG in ``units`` (e.g. µV declared as V).

    The median |x| of each channel (on up to 8 windows, every step-th sample:
    at most 512 of each), converted to µV,
    is compared with :data:`PLAUSIBLE_UV`; flat channels are left out.
    """
    # every step-th sample: an order-of-magnitude check needs no more, and it runs on every
    # transform (all samples of 8 x 4 s at 500 Hz took 2.3 ms, more than some models' forward)
    step = -(-X.shape[-1] // 512)
    sample = np.abs(X[:8, :, ::step])
    med = np.median(sample.reshape(sample.shape[0], sample.shape[1], -1).transpose(1, 0, 2)
                    .reshape(sample.shape[1], -1), axis=1)
    med = med[med > 0]
    if med.size == 0:
        return
    level = float(np.median(med)) * UNIT_TO_UV[units]
    low, high = PLAUSIBLE_UV
    if low <= level <= high:
        return
    raw = level / UNIT_TO_UV[units]
    # The units that would put the level nearest 10 µV.
    guess = min(("V", "mV", "uV"), key=lambda u: abs(np.log10(raw * UNIT_TO_UV[u] / 10.0)))
    warn(
        f"X's median amplitude is {raw:.3g} per sample, i.e. {level:.3g} µV with units={units!r}: "
        f"implausible for EEG (expected {low:g}-{high:g} µV). It looks like units={guess!r}: pass "
        f"units={guess!r} (mne objects must hold volts), or rescale X.",
        UnitsWarning, stacklevel=4, cause=("implausible amplitude", units, guess),
    )


def check_finite_outputs(out):
    """Raise if the model produced NaN/inf, naming the windows.

    Parameters
    ----------
    out : ndarray, shape (n_windows, n_outputs)

    Returns
    -------
    out : the same array
    """
    bad = ~np.isfinite(out).reshape(len(out), -1).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = idx[:20].tolist()
        raise ValueError(
            f"The model's output is NaN or infinite for {idx.size} of {len(out)} windows "
            f"(indices {shown}{' ...' if idx.size > 20 else ''}): their values overflow inside "
            "the model. Check those windows for extreme samples (artefacts, wrong units=) and "
            "drop or clip them."
        )
    return out


def _numpy_info(X, sfreq, ch_names, units, fitted_info, montage):
    if sfreq is None and ch_names is None and fitted_info is not None:
        if fitted_info.units == "V":
            warn(
                "This estimator was fitted on mne.Epochs (whose data are in volts) and now gets a "
                "numpy array: it is read as volts, with the channels and rate seen in fit, so the "
                "units are ambiguous. Pass mne.Epochs, or set units= (and sfreq=, ch_names=) to "
                "say what the array holds (e.g. units='uV' for MOABB arrays).",
                UnitsWarning, stacklevel=4,
            )
        return fitted_info
    missing = [name for name, v in (("sfreq", sfreq), ("ch_names", ch_names)) if v is None]
    if missing:
        raise ValueError(
            f"Numpy input needs {' and '.join(missing)}: e.g. "
            f"FoundationTransformer(sfreq=250, ch_names=['Fp1', 'Fp2', ...], units='uV'), "
            "or pass an mne.Epochs, which carries both."
        )
    return RecordingInfo(float(sfreq), tuple(ch_names), units, _positions(montage, ch_names))


def _positions(montage, ch_names):
    if montage is None:
        return None
    from .preprocessing.montage import head_positions

    if isinstance(montage, str):
        montage = mne.channels.make_standard_montage(montage)
    pos = head_positions(montage)
    found = {n: pos[n.upper()] for n in ch_names if n.upper() in pos}
    if not found:
        raise ValueError(f"The montage has none of the channels {list(ch_names)}.")
    return found
