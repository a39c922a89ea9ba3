"""What to embed: files, folders and globs, a BIDS tree, or MOABB subjects, as a list of :class:`Recording`.

A recording's id names its shard and its manifest row; it is derived from
the source's absolute path (file name plus a short hash of the path), so it
stays the same from one run to the next whatever else is added to the
inputs, and two files of the same name in different folders do not clash.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

# Files mne.io.read_raw opens; companions (.eeg/.vmrk of BrainVision, .fdt of EEGLAB) are read through them.
RAW_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".mff", ".nxe", ".lay",
                ".eeg.xdf", ".snirf", ".cdt", ".mef", ".nwb")
BIDS_EXTENSIONS = [".edf", ".bdf", ".vhdr", ".set", ".fif"]
ENTITIES = ("subject", "session", "task", "run")


@dataclass(frozen=True)
class Recording:
    """One unit of work: a source, how to read it, and the entities kept as columns.

    Attributes
    ----------
    id : str
        Names the shard (``shards/<id>.parquet``) and the manifest row.
    source : str
        Absolute path of the file (for MOABB: ``moabb:<dataset>:<subject>``).
    kind : {"file", "bids", "moabb"}
        How it is read (``mne.io.read_raw``, ``mne_bids.read_raw_bids``, MOABB's ``get_data``).
    entities : dict
        BIDS entities (subject, session, task, run) or the MOABB subject.
    files : tuple of str
        The files whose bytes are hashed (the file itself, or a MOABB subject's files).
    """

    id: str
    source: str
    kind: str = "file"
    entities: dict = field(default_factory=dict)
    files: tuple = ()


def _rec_id(path):
    path = Path(path)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name)
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def _is_raw(path):
    return path.is_file() and path.name.lower().endswith(RAW_SUFFIXES)


def expand_paths(items):
    """Files from files, folders (searched recursively) and glob patterns, in a stable order.

    Parameters
    ----------
    items : iterable of str or Path

    Returns
    -------
    paths : list of Path
        Absolute, without duplicates. A folder contributes the files whose
        suffix mne reads (``RAW_SUFFIXES``); a named file is kept whatever
        its suffix (if mne cannot read it, its recording fails, visibly).
    """
    found, seen = [], set()
    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if _is_raw(p))
        elif path.exists():
            matches = [path]
        elif glob.has_magic(text):
            matches = sorted(p for p in map(Path, glob.glob(str(path), recursive=True))
                             if p.is_file() and (_is_raw(p) or not p.is_dir()))
        else:
            raise FileNotFoundError(f"{text}: no such file, folder or matching glob.")
        if not matches:
            raise FileNotFoundError(f"{text}: no recording found there (looked for {', '.join(RAW_SUFFIXES[:6])}...).")
        for p in matches:
            p = p.resolve()
            if p not in seen:
                seen.add(p)
                found.append(p)
    return found


def bids_recordings(root, **filters):
    """The EEG recordings of a BIDS tree (read with mne-bids), their entities kept.

    Parameters
    ----------
    root : str or Path
        The BIDS root (holding ``dataset_description.json``).
    **filters
        ``subjects``, ``sessions``, ``tasks``, ``runs``: passed to
        ``mne_bids.find_matching_paths``.

    Returns
    -------
    recordings : list of Recording
    """
    from mne_bids import find_matching_paths

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: the BIDS root does not exist.")
    paths = find_matching_paths(root, datatypes="eeg", suffixes="eeg", extensions=BIDS_EXTENSIONS, **filters)
    if not paths:
        raise FileNotFoundError(f"{root}: no EEG recording found in this BIDS tree (sub-*/[ses-*/]eeg/*_eeg.*).")
    recordings = []
    for bp in sorted(paths, key=lambda b: str(b.fpath)):
        fpath = Path(bp.fpath).resolve()
        entities = {e: getattr(bp, e) for e in ENTITIES if getattr(bp, e) is not None}
        recordings.append(Recording(_rec_id(fpath), str(fpath), "bids", entities, (str(fpath),)))
    return recordings


def parse_subjects(text):
    """``"1-5,7"`` -> [1, 2, 3, 4, 5, 7]."""
    subjects = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"subjects {text!r}: use numbers and ranges, e.g. '1-5,7'.")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        subjects.extend(range(lo, hi + 1))
    return subjects


@contextlib.contextmanager
def no_network(reason):
    """Any connection attempt raises OSError(``reason``): MOABB finds local files or says they are missing."""
    def refuse(*args, **kwargs):
        raise OSError(reason)

    saved = socket.socket.connect, socket.create_connection, socket.getaddrinfo
    socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved


def moabb_dataset(name):
    """A MOABB dataset instance by class name (e.g. ``"BNCI2015_003"``)."""
    try:
        import moabb.datasets as md
    except ImportError:
        raise ImportError("--moabb needs moabb (pip install 'eegfm_sklearn[moabb]').") from None
    cls = getattr(md, name, None) if name in getattr(md, "__all__", dir(md)) else None
    if cls is None:
        raise LookupError(f"Unknown MOABB dataset {name!r}; see moabb.datasets (e.g. 'BNCI2014_001').")
    return cls()


def moabb_recordings(name, subjects=None, allow_download=False):
    """One recording per MOABB subject (all its sessions and runs; session and run become columns).

    Without ``allow_download`` the subject's files must already be in
    MOABB's local data folder (``MNE_DATA`` / ``~/mne_data``).
    """
    dataset = moabb_dataset(name)
    subjects = list(dataset.subject_list) if subjects is None else list(subjects)
    unknown = sorted(set(subjects) - set(dataset.subject_list))
    if unknown:
        raise ValueError(f"{name} has no subject(s) {unknown}; it has {dataset.subject_list[0]}..."
                         f"{dataset.subject_list[-1]}.")
    recordings = []
    for s in subjects:
        guard = contextlib.nullcontext() if allow_download else no_network("download blocked")
        with guard:
            try:
                files = dataset.data_path(s)
            except OSError as err:
                if allow_download:
                    raise
                raise FileNotFoundError(
                    f"{name} subject {s} is not in MOABB's local data folder (MNE_DATA, default ~/mne_data); "
                    "download it first or pass allow_download=True (--allow-download).") from err
        files = tuple(sorted(str(Path(f).resolve()) for f in (files if isinstance(files, (list, tuple)) else [files])))
        source = f"moabb:{name}:{s}"
        recordings.append(Recording(f"{name}-sub{s}", source, "moabb", {"subject": str(s)}, files))
    return recordings


def expand_inputs(inputs=(), *, bids_root=None, bids_filters=None, moabb=None, subjects=None,
                  allow_download=False):
    """Every recording named by the inputs, in order, ids unique.

    Parameters
    ----------
    inputs : iterable of str or Path
        Files, folders, glob patterns (see :func:`expand_paths`).
    bids_root : str or Path or None
    bids_filters : dict or None
        Passed to :func:`bids_recordings`.
    moabb : str or None
        MOABB dataset class name.
    subjects : list of int or str or None
        MOABB subjects (``"1-5"`` accepted); default all.
    allow_download : bool
        Let MOABB download missing subjects.

    Returns
    -------
    recordings : list of Recording
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = list(inputs or ())
    recordings = []
    bids = bids_recordings(bids_root, **(bids_filters or {})) if bids_root is not None else []
    bids_files = {r.source for r in bids}
    for path in (expand_paths(inputs) if inputs else []):
        if str(path) not in bids_files:
            recordings.append(Recording(_rec_id(path), str(path), "file", {}, (str(path),)))
    recordings += bids
    if moabb is not None:
        if isinstance(subjects, str):
            subjects = parse_subjects(subjects)
        recordings += moabb_recordings(moabb, subjects, allow_download)
    if not recordings:
        raise ValueError("No recording to embed: give files, folders or globs, a BIDS root or a MOABB dataset.")
    ids = [r.id for r in recordings]
    if len(set(ids)) != len(ids):  # only possible for the same MOABB dataset twice
        raise ValueError("The inputs name the same recording twice.")
    return recordings
