"""Recording fetchers: look in the data folder first, else download.

A recording neither on disk nor downloadable now raises
:class:`DataNotFoundError` at once (``EEGFM_OFFLINE=1`` skips the attempt).

Downloads go through pooch, the fetcher mne's own datasets use, with
SHA-256 checks where the hash is known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mne
import numpy as np

from .utils._data_dir import DATA_DIR_ENV, OFFLINE_ENV, DataNotFoundError, data_dir_origin, downloads_off, get_data_dir
from .utils.progress import show_progress

EEGMAT_URL = "https://physionet.org/files/eegmat/1.0.0/"
EEGMAT_URL_ENV = "EEGFM_EEGMAT_URL"
# SHA-256 of the PhysioNet files for subjects 00-09; others are fetched unchecked.
EEGMAT_SHA256 = {
    "Subject00_1.edf": "ac46d8c9905d6750c8f07235f2e0d96771882cad8af06a8e32d88cfd16c376ed",
    "Subject00_2.edf": "19476db6d5f2bcd40e417a7e1f2f9b276af05cf2c93a52a2be4d7524b4e9885c",
    "Subject01_1.edf": "e8c8bd03146127f6084e36282b20bf9236cd5e5459e8a9129b05963bdbbb461a",
    "Subject01_2.edf": "da7ad48824d5c92a5a12b90495f4ceca98dbc91fca1d3e85f009dbc640b32ca7",
    "Subject02_1.edf": "02da547be13c67b310a020d48be83be6a1faad72b26519e8084038aea1aa30f8",
    "Subject02_2.edf": "2ff3c97cbc6be7c4b3e43df85f42621d2837bd860463747557a6c3a558d802ee",
    "Subject03_1.edf": "8f22c7eb40e2d2b2f61dadd874172f395fed9ca83c843e9d92b492ec2b3d4f41",
    "Subject03_2.edf": "d4792fe50ad51d7ad607caeaf3c24f2d19087cb96311c4c2cbdfdd6418f56cf0",
    "Subject04_1.edf": "0c96ec8a36767673772d35c1c8e8328c6a51f18e83b806f5776d02f388c65a73",
    "Subject04_2.edf": "4455d8e910ac8f5a18a5c050e2b544d147b092458cd135c04e3030f2ee63f90f",
    "Subject05_1.edf": "844f7c4c0868f64003f50d02ecd9db3a7e60cd51df66f9ad2a460e279001eaf8",
    "Subject05_2.edf": "651a9f1cbe3e85605ef6a8e3c13c8d8d130e1c41bb8ac23ac3c2fa9ab63665f7",
    "Subject06_1.edf": "cd5697ace53d4a824b7a89846a0a2e2ca40ec7ee661488551d44d6f2a301b5c1",
    "Subject06_2.edf": "206452b3d030ba9f04b43f2747bcd24ecd0466e7abe27676ad054428286cf24d",
    "Subject07_1.edf": "3991d7b4667065de53f80e5b40b69cee5c819f62c7352dca3b06ca5333fd1308",
    "Subject07_2.edf": "f8381e8f22a118f772e316bfb4c87f2a41581d9590a7c58f3b8c95c62a1789f1",
    "Subject08_1.edf": "02acf02d25d333fd9bc38b9b513b9f72072d5bd36b6ffa5a9a5be6f54fd9b853",
    "Subject08_2.edf": "461c2f9c95b5d1128e32bd1272e44b3d5366493f57d88092278b440a7b30d0df",
    "Subject09_1.edf": "68f2c002f30831ead8fc9418a24fe044419f430686beec62ddb46ab2c731036a",
    "Subject09_2.edf": "05d4449075a6e62d61737a939cf142b27f84b60a9bdad788fd87a9fc9737b3b9",
}
EEGMAT_LABELS = {1: "rest", 2: "arithmetic"}


# Downloads give up quickly when the host cannot be reached (no retry loop);
# a slow but live connection still has a minute per read.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
EEGMAT_PAGE = "https://physionet.org/content/eegmat/1.0.0/"


def fetch_eegmat(subjects=range(10), data_dir=None, download=True):
    """Find the EEGMAT EDF files, downloading those not on disk.

    Parameters
    ----------
    subjects : iterable of int
        Subject numbers, 0-35.
    data_dir : str or Path or None
        Folder holding an ``eegmat/`` subfolder (see :func:`get_data_dir`).
    download : bool
        Fetch missing files from PhysioNet (or ``$EEGFM_EEGMAT_URL``),
        unless ``EEGFM_OFFLINE=1``.

    Returns
    -------
    paths : dict
        ``(subject, run) -> Path``; run 1 is rest, run 2 arithmetic.

    Raises
    ------
    DataNotFoundError
        A file is missing and cannot be downloaded now (download off, no
        network, server error); the message says where it was looked for
        and how to provide it.
    """
    subjects = [int(s) for s in subjects]
    for subject in subjects:
        if not 0 <= subject <= 35:
            raise ValueError(f"EEGMAT has subjects 0-35; got {subject}.")
    folder = get_data_dir(data_dir) / "eegmat"
    base_url = os.environ.get(EEGMAT_URL_ENV, EEGMAT_URL)
    paths = {(s, run): folder / f"Subject{s:02d}_{run}.edf" for s in subjects for run in (1, 2)}
    missing = [key for key, path in paths.items() if not path.exists()]
    if missing and not download:
        raise _eegmat_not_found(folder, data_dir, missing, paths, base_url, "download=False")
    if missing and downloads_off():
        raise _eegmat_not_found(folder, data_dir, missing, paths, base_url, f"{OFFLINE_ENV}=1")
    # folders the download creates; a failed first run removes them again if still empty
    created = [f for f in (folder, folder.parent) if not f.exists()]
    for key in missing:
        try:
            paths[key] = Path(_download(base_url, paths[key].name, folder))
        except _network_errors() as err:
            why = _why_download_failed(err)
            _remove_empty(created)
            raise _eegmat_not_found(folder, data_dir, missing, paths, base_url, why) from None
    return paths


def _remove_empty(folders):
    for f in folders:  # innermost first
        try:
            f.rmdir()  # only if empty
        except OSError:
            return


def _network_errors():
    import requests

    return (requests.exceptions.RequestException, ConnectionError)


def _why_download_failed(err):
    import requests

    host = urlparse(getattr(err.request, "url", None) or "").netloc or "the server"
    if isinstance(err, requests.exceptions.HTTPError) and err.response is not None:
        return f"the download failed: {host} answered HTTP {err.response.status_code} for {err.response.url}"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"no network: {host} did not answer within {CONNECT_TIMEOUT_S} s"
    if isinstance(err, (requests.exceptions.ConnectionError, ConnectionError)):
        return f"no network: could not connect to {host}"
    return f"the download failed ({type(err).__name__})"


def _eegmat_not_found(folder, data_dir, missing, paths, base_url, why):
    names = [paths[key].name for key in missing]
    listed = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
    return DataNotFoundError(
        f"EEGMAT recordings not found: {len(names)} file(s) ({listed}) missing from {folder} "
        f"(folder from {data_dir_origin(data_dir)}); not downloaded: {why}.\n"
        "Provide them in one of three ways:\n"
        f"  1. set {DATA_DIR_ENV} (or pass data_dir=) to a folder whose eegmat/ subfolder holds them;\n"
        f"  2. run once with network: missing files are downloaded from {base_url} into {folder} "
        "(5.2 MB per subject);\n"
        f"  3. copy them by hand from {EEGMAT_PAGE} as {folder}/SubjectNN_1.edf (rest) and "
        "SubjectNN_2.edf (arithmetic), NN = 00-35."
    )


def _download(base_url, fname, folder):
    import pooch

    sha = EEGMAT_SHA256.get(fname)
    # pooch's own "Downloading ..." line would precede a failure's message; a bar
    # (on a terminal) shows a download that has started instead.
    downloader = pooch.HTTPDownloader(progressbar=show_progress(1), timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        return pooch.retrieve(
            url=base_url.rstrip("/") + "/" + fname,
            known_hash=f"sha256:{sha}" if sha else None,
            fname=fname,
            path=folder,
            downloader=downloader,
        )
    finally:
        logger.setLevel(level)


@dataclass
class WindowedRecordings:
    """Windows cut from recordings, ready for an estimator.

    Each field is an attribute of the same name.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times)
        Signal in ``units``.
    y : ndarray of str, shape (n_windows,)
        Label of each window.
    groups : ndarray of int, shape (n_windows,)
        Subject of each window (for leave-subjects-out CV).
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str, length n_chans
        Channel names, in the order of ``X``'s second axis.
    units : str, default="uV"
        Units of ``X`` (``"uV"``, ``"V"`` or ``"mV"``, as the estimators'
        ``units``).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    sfreq: float
    ch_names: list
    units: str = "uV"


def load_eegmat(subjects=range(10), window_seconds=4.0, last_seconds=60.0, data_dir=None, download=True):
    """Non-overlapping windows of EEGMAT: rest vs mental arithmetic.

    The windows come from the last ``last_seconds`` of each file (the usual
    protocol); the 19 scalp channels are kept, the A2-A1 and ECG channels
    left out.

    Parameters
    ----------
    subjects : iterable of int, default=range(10)
        Subject numbers, 0-35.
    window_seconds : float, default=4.0
        Window length; each file's kept span is cut into consecutive
        windows and the incomplete remainder dropped.
    last_seconds : float or None, default=60.0
        Use only the end of each file; None for the whole file.
    data_dir : str or Path or None, default=None
        Folder holding an ``eegmat/`` subfolder (see :func:`fetch_eegmat`).
    download : bool, default=True
        Fetch missing files (see :func:`fetch_eegmat`).

    Returns
    -------
    data : WindowedRecordings
        ``X`` in µV, shape (n_windows, 19, window_seconds * 500); labels
        ``"rest"`` / ``"arithmetic"``; ``groups`` = subject number.

    Raises
    ------
    DataNotFoundError
        See :func:`fetch_eegmat`.
    """
    paths = fetch_eegmat(subjects, data_dir, download)
    Xs, ys, gs, ch_names, sfreq = [], [], [], None, None
    for (subject, run), path in sorted(paths.items()):
        raw = mne.io.read_raw_edf(path, preload=True, verbose=False)
        raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "-" not in n])
        sfreq = raw.info["sfreq"]
        ch_names = ch_names or raw.ch_names
        if raw.ch_names != ch_names:
            raise ValueError(f"{path.name} has channels {raw.ch_names}, unlike the other files.")
        data = raw.get_data(units="uV")
        if last_seconds is not None:
            data = data[:, -int(round(last_seconds * sfreq)):]
        n = int(round(window_seconds * sfreq))
        n_windows = data.shape[1] // n
        windows = data[:, : n_windows * n].reshape(data.shape[0], n_windows, n).transpose(1, 0, 2)
        Xs.append(windows)
        ys += [EEGMAT_LABELS[run]] * n_windows
        gs += [subject] * n_windows
    return WindowedRecordings(np.concatenate(Xs), np.array(ys), np.array(gs), float(sfreq), list(ch_names))
