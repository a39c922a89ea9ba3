"""Seeded, download-free simulation of paired EEG/MEG on real sensor geometry.

Recipe (all numbers are parameters):

1. Geometry: the 60 EEG + 306 MEG sensors of ``eeg_meg/test-ave.fif.gz``
   (the MNE "sample" subject) with their digitisation and device->head
   transform.
2. Head model: a 3-layer sphere fitted to the head digitisation
   (``mne.make_sphere_model("auto", "auto", info)``); volume source space on a
   ``pos`` mm grid inside the inner sphere; free-orientation forward solution
   (``mne.make_forward_solution``). The forward is deterministic, so it is
   cached in memory and on disk (``cache_dir``).
3. Sources: ``n_sources`` dipoles at random grid points with random fixed
   orientations. Each carries 1/f^beta background activity (beta in 1..2) plus
   one or two rhythms (theta 4-7 Hz, alpha 8-12 Hz, beta 15-25 Hz) whose
   amplitude waxes and wanes (log-normal envelope below 1 Hz: bursts), with
   log-normal strengths around ``source_amplitude``. ``n_background`` weaker
   dipoles add pink "brain noise" that EEG cannot fully resolve.
4. Sensors: EEG and MEG = gain @ moments, plus white + 1/f sensor noise of
   realistic size (``eeg_noise`` V, ``mag_noise`` T, ``grad_noise`` T/m, rms),
   then EEG to average reference.

``subject`` seeds the source configuration (locations, orientations, spectra,
strengths: a "subject"); ``seed`` seeds the time courses and noise (a
"recording" of that subject). The same pair gives the same data. Held-out
``seed`` values test generalisation to new recordings of the same brain;
held-out ``subject`` values test generalisation to other source
configurations (much harder: the EEG->MEG map depends on which sources are
active). Data are made in independent continuous chunks of
``chunk_s`` seconds, so hours of data need only chunk-sized memory at a time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..utils._data_dir import DataNotFoundError, data_dir_origin, get_data_dir

GEOMETRY_FILE = Path("eeg_meg") / "test-ave.fif.gz"
_FWD_MEMORY: dict = {}


def default_cache_dir() -> Path:
    """``$EEGFM_CACHE_DIR``, else ``$XDG_CACHE_HOME/eegfm_sklearn``, else ``~/.cache/eegfm_sklearn``."""
    if os.environ.get("EEGFM_CACHE_DIR"):
        return Path(os.environ["EEGFM_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "eegfm_sklearn"


def sensor_info(data_dir=None):
    """``mne.Info`` of the 60 EEG + 306 MEG sensors of ``test-ave.fif.gz``."""
    import mne

    path = get_data_dir(data_dir) / GEOMETRY_FILE
    if not path.exists():
        raise DataNotFoundError(
            f"Sensor geometry file {path} not found (folder from {data_dir_origin(data_dir)}); it is "
            "not downloaded.\nProvide it in one of two ways:\n"
            f"  1. set EEGFM_DATA_DIR (or pass data_dir=) to a folder holding {GEOMETRY_FILE}, such as "
            "the project's shared data folder;\n"
            f"  2. copy {GEOMETRY_FILE.name} (mne-python's test data: the sample subject's sensors) to {path}."
        )
    evoked = mne.read_evokeds(path, condition=0, verbose=False)
    info = mne.pick_info(evoked.info, mne.pick_types(evoked.info, meg=True, eeg=True, exclude=[]))
    with info._unlock():
        info["projs"] = []
        info["bads"] = []
    return info, path


def get_forward(pos=10.0, data_dir=None, cache_dir=None):
    """Forward solution (sphere model, volume source space) for the sample sensors.

    Parameters
    ----------
    pos : float
        Source grid spacing in mm.
    data_dir : str or Path or None
        Folder with ``eeg_meg/test-ave.fif.gz`` (see ``get_data_dir``).
    cache_dir : str or Path or None
        Where the forward is cached (see :func:`default_cache_dir`); ``False``
        disables the disk cache.

    Returns
    -------
    fwd : mne.Forward
        Free-orientation forward for 60 EEG + 306 MEG channels.
    """
    import mne

    info, path = sensor_info(data_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    key = f"eeg2meg_sphere_vol{float(pos):g}mm_{digest}_mne{mne.__version__.split('.')[0]}"
    if key in _FWD_MEMORY:
        return _FWD_MEMORY[key]
    fname = None
    if cache_dir is not False:
        fname = Path(cache_dir or default_cache_dir()) / f"{key}-fwd.fif"
        if fname.exists():
            fwd = mne.read_forward_solution(fname, verbose=False)
            _FWD_MEMORY[key] = fwd
            return fwd
    sphere = mne.make_sphere_model("auto", "auto", info, verbose=False)
    src = mne.setup_volume_source_space(sphere=sphere, pos=float(pos), verbose=False)
    fwd = mne.make_forward_solution(
        info, trans=None, src=src, bem=sphere, meg=True, eeg=True, mindist=5.0, verbose=False
    )
    if fname is not None:
        fname.parent.mkdir(parents=True, exist_ok=True)
        tmp = fname.with_name(f"{os.getpid()}-{fname.name}")  # atomic under concurrent writers
        mne.write_forward_solution(tmp, fwd, overwrite=True, verbose=False)
        os.replace(tmp, fname)
    _FWD_MEMORY[key] = fwd
    return fwd


def _shaped_noise(rng, n, n_times, sfreq, gain_fn):
    """Gaussian noise ``(n, n_times)`` with amplitude spectrum ``gain_fn(freqs)`` (rows, freqs)."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec = rng.standard_normal((n, freqs.size)) + 1j * rng.standard_normal((n, freqs.size))
    out = np.fft.irfft(spec * gain_fn(freqs), n=n_times, axis=-1)
    return out / (out.std(axis=-1, keepdims=True) + 1e-30)


def _pink_gain(betas):
    def gain(f):
        f = np.maximum(f, f[1] if f.size > 1 else 1.0)
        return f[None, :] ** (-np.asarray(betas)[:, None] / 2.0)  # power ~ 1/f^beta

    return gain


def _peak_gain(centres, widths):
    def gain(f):
        return np.exp(-0.5 * ((f[None, :] - centres[:, None]) / widths[:, None]) ** 2)

    return gain


class _Sources:
    """Seeded source configuration: which dipoles, their spectra and strengths."""

    def __init__(self, fwd, rng, n_sources, n_background, source_amplitude, background_ratio):
        gain = fwd["sol"]["data"]  # (n_chan, 3 * n_grid), free orientation
        n_grid = gain.shape[1] // 3
        pick = rng.choice(n_grid, n_sources + n_background, replace=n_sources + n_background > n_grid)
        ori = rng.standard_normal((pick.size, 3))
        ori /= np.linalg.norm(ori, axis=1, keepdims=True)
        g3 = gain.reshape(gain.shape[0], n_grid, 3)[:, pick]  # (n_chan, n_dip, 3)
        self.gain = np.einsum("cdk,dk->cd", g3, ori)  # fixed-orientation gain (n_chan, n_dip)
        self.n_sources = n_sources
        # Foreground: 1/f background + 1-2 bursty rhythms, log-normal strength.
        self.amp = source_amplitude * rng.lognormal(0.0, 0.5, n_sources)
        self.beta = rng.uniform(1.0, 2.0, n_sources)
        bands = np.array([[4.0, 7.0], [8.0, 12.0], [15.0, 25.0]])
        band_p = np.array([0.2, 0.5, 0.3])  # alpha most common, as in resting data
        n_rhythm = rng.integers(1, 3, n_sources)
        self.rhythms = []  # (source index, centre Hz, width Hz, relative power)
        for i in range(n_sources):
            for b in rng.choice(3, n_rhythm[i], replace=False, p=band_p):
                lo, hi = bands[b]
                self.rhythms.append((i, rng.uniform(lo, hi), rng.uniform(0.7, 2.0), rng.uniform(1.0, 4.0)))
        self.bg_amp = background_ratio * source_amplitude * rng.lognormal(0.0, 0.3, n_background)
        self.bg_beta = rng.uniform(1.0, 2.0, n_background)

    def moments(self, rng, n_times, sfreq):
        """Dipole moments (A m), shape (n_dipoles, n_times)."""
        fg = _shaped_noise(rng, self.n_sources, n_times, sfreq, _pink_gain(self.beta))
        if self.rhythms:
            idx, centre, width, power = map(np.array, zip(*self.rhythms))
            osc = _shaped_noise(rng, idx.size, n_times, sfreq, _peak_gain(centre, width))
            # Slow log-normal envelopes make rhythms come in bursts, as in real recordings.
            gain = _peak_gain(np.zeros(idx.size), np.full(idx.size, 0.4))
            env = np.exp(_shaped_noise(rng, idx.size, n_times, sfreq, gain))
            osc *= env / np.sqrt((env**2).mean(axis=1, keepdims=True))
            np.add.at(fg, idx, np.sqrt(power)[:, None] * osc)
        fg *= (self.amp / fg.std(axis=1))[:, None]
        bg = _shaped_noise(rng, self.bg_amp.size, n_times, sfreq, _pink_gain(self.bg_beta))
        return np.concatenate([fg, bg * self.bg_amp[:, None]])


def _sensor_noise(rng, info, n_times, sfreq, eeg_noise, mag_noise, grad_noise):
    import mne

    scale = np.zeros(len(info["ch_names"]))
    scale[mne.pick_types(info, meg=False, eeg=True)] = eeg_noise
    scale[mne.pick_types(info, meg="mag")] = mag_noise
    scale[mne.pick_types(info, meg="grad")] = grad_noise
    white = rng.standard_normal((scale.size, n_times))
    pink = _shaped_noise(rng, scale.size, n_times, sfreq, _pink_gain(np.ones(scale.size)))
    return scale[:, None] * (white + 0.5 * pink) / np.sqrt(1.25)


def simulate_paired_raw(
    duration=60.0,
    sfreq=200.0,
    seed=0,
    *,
    subject=0,
    n_sources=20,
    n_background=200,
    source_amplitude=20e-9,
    background_ratio=0.15,
    eeg_noise=1e-6,
    mag_noise=20e-15,
    grad_noise=4e-13,
    chunk_s=60.0,
    pos=10.0,
    data_dir=None,
    cache_dir=None,
):
    """Simulate a continuous paired EEG + MEG recording.

    Parameters
    ----------
    duration : float
        Seconds of data.
    sfreq : float
        Sampling rate in Hz.
    seed : int
        Seeds the source time courses and sensor noise (the "recording").
    subject : int
        Seeds the source configuration (the "subject").
    n_sources : int
        Strong dipoles with 1/f background and bursty rhythms.
    n_background : int
        Weak pink-noise dipoles ("brain noise").
    source_amplitude : float
        Typical rms strength of a strong dipole, in A m (20 nAm).
    background_ratio : float
        Rms of a background dipole relative to ``source_amplitude``.
    eeg_noise, mag_noise, grad_noise : float
        Rms sensor noise in V, T, T/m.
    chunk_s : float
        Length of independently generated continuous chunks (memory bound).
    pos : float
        Source grid spacing in mm.
    data_dir : str or Path or None
        Folder with ``eeg_meg/test-ave.fif.gz`` (see :func:`get_forward`).
    cache_dir : str or Path or None or False
        Where the forward solution is cached (see :func:`get_forward`).

    Returns
    -------
    raw : mne.io.RawArray
        60 EEG (average reference) + 306 MEG channels with the sample
        subject's sensor info, at ``sfreq``.
    """
    import mne

    data, info = _simulate(duration, sfreq, seed, subject, n_sources, n_background, source_amplitude,
                           background_ratio, eeg_noise, mag_noise, grad_noise, chunk_s, pos,
                           data_dir, cache_dir)
    return mne.io.RawArray(np.concatenate(data, axis=1), info, verbose=False)


def _simulate(duration, sfreq, seed, subject, n_sources, n_background, source_amplitude, background_ratio,
              eeg_noise, mag_noise, grad_noise, chunk_s, pos, data_dir, cache_dir):
    import mne

    fwd = get_forward(pos, data_dir=data_dir, cache_dir=cache_dir)
    info, _ = sensor_info(data_dir)
    with info._unlock():
        info["sfreq"] = float(sfreq)
        info["lowpass"] = float(sfreq) / 2.0
        info["highpass"] = 0.0
    if fwd["info"]["ch_names"] != info["ch_names"]:
        raise RuntimeError("Cached forward does not match the sensor file; clear the cache folder.")
    sources = _Sources(fwd, np.random.default_rng(int(subject)), n_sources, n_background, source_amplitude,
                       background_ratio)
    eeg = mne.pick_types(info, meg=False, eeg=True)
    n_total = int(round(duration * sfreq))
    n_chunk = max(1, int(round(chunk_s * sfreq)))
    chunks = []
    rng = np.random.default_rng([int(subject), int(seed)])
    for start in range(0, n_total, n_chunk):
        n = min(n_chunk, n_total - start)
        x = sources.gain @ sources.moments(rng, n, sfreq)
        x += _sensor_noise(rng, info, n, sfreq, eeg_noise, mag_noise, grad_noise)
        x[eeg] -= x[eeg].mean(axis=0)  # average reference, as in the real file
        chunks.append(x)
    return chunks, info


def simulate_paired_windows(
    n_windows=600,
    n_times=200,
    sfreq=200.0,
    seed=0,
    dtype=np.float32,
    **kwargs,
):
    """Simulate paired EEG/MEG windows ready for ``fit``.

    Windows are cut without overlap from continuous chunks (``chunk_s``), so
    one hour at 200 Hz with 1 s windows is ``n_windows=3600`` (~1 GB in
    float32).

    Parameters
    ----------
    n_windows : int
        Number of windows.
    n_times : int
        Samples per window.
    sfreq : float
        Sampling rate in Hz.
    seed : int
        Recording seed (see :func:`simulate_paired_raw`; ``subject=`` picks
        the source configuration).
    dtype : numpy dtype
        The dtype of the returned arrays.
    **kwargs
        Any other :func:`simulate_paired_raw` parameter.

    Returns
    -------
    windows : PairedWindows
        ``X`` (n_windows, 60, n_times) in V, ``Y`` (n_windows, 306, n_times)
        in T and T/m, plus channel names and types; unpacks as ``X, Y``.
    """
    import mne

    from .windows import PairedWindows

    chunk_s = kwargs.pop("chunk_s", 60.0)
    per_chunk = max(1, int(chunk_s * sfreq) // n_times)
    defaults = dict(subject=0, n_sources=20, n_background=200, source_amplitude=20e-9, background_ratio=0.15,
                    eeg_noise=1e-6, mag_noise=20e-15, grad_noise=4e-13, pos=10.0,
                    data_dir=None, cache_dir=None)
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise TypeError(f"Unknown simulation parameters: {sorted(unknown)}.")
    defaults.update(kwargs)
    chunks, info = _simulate(n_windows * n_times / sfreq, sfreq, seed, chunk_s=per_chunk * n_times / sfreq,
                             **defaults)
    eeg = mne.pick_types(info, meg=False, eeg=True)
    meg = mne.pick_types(info, meg=True)
    wins = [c[:, i * n_times : (i + 1) * n_times] for c in chunks for i in range(c.shape[1] // n_times)]
    data = np.stack(wins[:n_windows])
    names = info["ch_names"]
    return PairedWindows(
        X=data[:, eeg].astype(dtype), Y=data[:, meg].astype(dtype),
        eeg_ch_names=[names[k] for k in eeg], meg_ch_names=[names[k] for k in meg],
        meg_ch_types=np.array(info.get_channel_types(picks=meg)), sfreq=float(sfreq),
        source=np.zeros(len(wins[:n_windows]), int), start=np.arange(len(wins[:n_windows])) * n_times,
    )
