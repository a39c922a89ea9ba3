"""Cut paired EEG / MEG windows from mne objects holding both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PairedWindows:
    """EEG and MEG windows covering the same time spans.

    Returned by :func:`paired_windows`; each field is an attribute of the
    same name, and the object unpacks as ``X, Y``.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_eeg, n_times)
        EEG in volts.
    Y : ndarray, shape (n_windows, n_meg, n_times)
        MEG in T (magnetometers) and T/m (gradiometers).
    eeg_ch_names : list of str, length n_eeg
        EEG channel names, in the order of ``X``'s second axis.
    meg_ch_names : list of str, length n_meg
        MEG channel names, in the order of ``Y``'s second axis.
    meg_ch_types : ndarray of str, shape (n_meg,)
        ``"mag"`` or ``"grad"`` per MEG channel (for :func:`eeg2meg_metrics`).
    sfreq : float
        Sampling rate in Hz.
    source : ndarray of int, shape (n_windows,)
        Index of the epoch / evoked the window comes from (0 for Raw).
    start : ndarray of int, shape (n_windows,)
        First sample of each window within its epoch / recording.
    """

    X: np.ndarray
    Y: np.ndarray
    eeg_ch_names: list
    meg_ch_names: list
    meg_ch_types: np.ndarray
    sfreq: float
    source: np.ndarray
    start: np.ndarray

    def __iter__(self):  # allows ``X, Y = paired_windows(...)``
        return iter((self.X, self.Y))


def _segments(inst):
    """(data, info) blocks of one mne object, without copying more than needed."""
    import mne

    if isinstance(inst, (list, tuple)):
        return [(e.data, e.info) for e in inst], inst[0].info
    if isinstance(inst, mne.Evoked):
        return [(inst.data, inst.info)], inst.info
    if isinstance(inst, mne.BaseEpochs):
        data = inst.get_data()
        return [(d, inst.info) for d in data], inst.info
    if isinstance(inst, mne.io.BaseRaw):
        from mne.annotations import _annotations_starts_stops

        data = inst.get_data()
        # Skip BAD_ annotated spans: windows never straddle them.
        good = np.ones(data.shape[1], bool)
        starts, stops = _annotations_starts_stops(inst, "BAD", invert=False)
        for a, b in zip(starts, stops):
            good[a:b] = False
        edges = np.flatnonzero(np.diff(np.r_[0, good.astype(int), 0]))
        blocks = [(data[:, a:b], inst.info, a) for a, b in zip(edges[::2], edges[1::2])]
        return blocks, inst.info
    raise TypeError(
        f"Expected an mne Raw, Epochs, Evoked or a list of Evoked; got {type(inst).__name__}."
    )


def _pick(info, picks, exclude):
    """Channel indices from a type name ("eeg", "meg", "mag", "grad") or channel names."""
    import mne

    if isinstance(picks, str) and picks in ("eeg", "meg", "mag", "grad"):
        meg = picks if picks in ("mag", "grad") else picks == "meg"
        return mne.pick_types(info, meg=meg, eeg=picks == "eeg", exclude=exclude)
    names = [picks] if isinstance(picks, str) else list(picks)
    missing = sorted(set(names) - set(info["ch_names"]))
    if missing:
        raise ValueError(f"Channels not in the recording: {missing[:5]}.")
    bads = info["bads"] if exclude == "bads" else list(exclude)
    return np.array([info["ch_names"].index(n) for n in names if n not in bads], int)


def paired_windows(inst, n_times, step=None, eeg_picks="eeg", meg_picks="meg", exclude="bads"):
    """Cut windows holding EEG (input) and MEG (target) of the same time spans.

    Parameters
    ----------
    inst : mne.io.Raw, mne.Epochs, mne.Evoked or list of mne.Evoked
        Recording(s) with both EEG and MEG channels. Raw windows skip
        ``BAD_`` annotations; epochs and evokeds are windowed one by one.
    n_times : int
        Samples per window.
    step : int or None, default=None
        Samples between window starts (None: ``n_times``, no overlap).
    eeg_picks, meg_picks : str or list of str, default="eeg" and "meg"
        Channels of the inputs and of the targets: a type (``"eeg"``,
        ``"meg"``, ``"mag"``, ``"grad"``) or channel names.
    exclude : "bads" or list of str, default="bads"
        Channels left out of both (``"bads"``: ``info["bads"]``).

    Returns
    -------
    windows : PairedWindows
        ``windows.X`` (n_windows, n_eeg, n_times), ``windows.Y`` (n_windows,
        n_meg, n_times) and channel metadata; unpacks as ``X, Y``.
    """
    n_times = int(n_times)
    step = n_times if step is None else int(step)
    if n_times < 1 or step < 1:
        raise ValueError(f"n_times and step must be positive integers; got {n_times}, {step}.")
    blocks, info = _segments(inst)
    eeg, meg = _pick(info, eeg_picks, exclude), _pick(info, meg_picks, exclude)
    if len(eeg) == 0 or len(meg) == 0:
        raise ValueError(
            f"The recording needs both EEG and MEG channels; found {len(eeg)} EEG and "
            f"{len(meg)} MEG channels."
        )
    Xs, Ys, src, starts = [], [], [], []
    for i, block in enumerate(blocks):
        data, _, offset = block if len(block) == 3 else (*block, 0)
        t = data.shape[1]
        for s in range(0, t - n_times + 1, step):
            Xs.append(data[eeg, s : s + n_times])
            Ys.append(data[meg, s : s + n_times])
            src.append(0 if len(block) == 3 else i)
            starts.append(s + offset)
    if not Xs:
        raise ValueError(
            f"No window of {n_times} samples fits in the data (longest block: "
            f"{max(b[0].shape[1] for b in blocks)} samples); use a smaller n_times."
        )
    names = info["ch_names"]
    types = np.array(info.get_channel_types(picks=meg))
    return PairedWindows(
        X=np.stack(Xs), Y=np.stack(Ys),
        eeg_ch_names=[names[k] for k in eeg], meg_ch_names=[names[k] for k in meg],
        meg_ch_types=types, sfreq=float(info["sfreq"]),
        source=np.asarray(src), start=np.asarray(starts),
    )
