"""The record of a corpus run: ``run.json`` once per output folder, ``manifest.jsonl`` one line per recording.

``run.json`` names the model, the weights (their files' SHA-256), the
versions of the packages that compute embeddings, the card's preprocessing
and every parameter that changes an embedding; its ``fingerprint`` hashes
all of that. A later run into the same folder must have the same
fingerprint (else it is refused), so every shard in a folder comes from
one configuration.

``manifest.jsonl`` is appended by the process that drives the run only
(never by workers), one JSON object per finished recording, flushed and
synced; the last entry of a recording wins. A line cut by a kill is
ignored when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.jsonl"
# Keys of run.json that define the fingerprint (the rest describes the run: time, host).
FINGERPRINT_KEYS = ("model", "weights", "weight_files", "card", "params", "versions", "on_raw")


def file_sha256s(paths):
    """SHA-256 of several files' bytes in order (one file: its plain SHA-256), and their total size."""
    from ..utils.hashing import sha256_file

    paths = list(paths)
    if len(paths) == 1:
        return sha256_file(paths[0]), os.path.getsize(paths[0])
    digest = hashlib.sha256()
    for p in paths:
        digest.update(sha256_file(p).encode())
    return digest.hexdigest(), sum(os.path.getsize(p) for p in paths)


def versions():
    """Versions of what computes embeddings."""
    import braindecode
    import mne
    import numpy
    import torch

    from .. import __version__

    return {"eegfm_sklearn": __version__, "braindecode": braindecode.__version__, "torch": torch.__version__,
            "mne": mne.__version__, "numpy": numpy.__version__}


def run_header(model, weights, params, on_raw=None, cache_dir=None):
    """``run.json``'s content, with its ``fingerprint``.

    Parameters
    ----------
    model : str
    weights : str or Path or None
    params : dict
        Every estimator parameter that changes an embedding (JSON-able).
    on_raw : callable or None
        Applied to each Raw before embedding; named by module and qualname.
    cache_dir : str or None
        Where named weights are looked up.

    Returns
    -------
    header : dict
    """
    from ..cards import get_model_card

    card = get_model_card(model)
    weight_files = {}
    if weights is not None:
        from ..weights import resolve_weights

        resolved = resolve_weights(weights, card, cache_dir=cache_dir)
        card = resolved.card
        weight_files = {Path(p).name: digest for p, digest in resolved.files.items()}  # hashed once, when resolved
    header = {
        "model": model,
        "weights": None if weights is None else str(weights),
        "weight_files": weight_files,
        "card": {k: repr(v) for k, v in card.summary().items()},
        "params": params,
        "versions": versions(),
        "on_raw": None if on_raw is None else
        f"{getattr(on_raw, '__module__', type(on_raw).__module__)}."
        f"{getattr(on_raw, '__qualname__', type(on_raw).__qualname__)}",
    }
    header["fingerprint"] = fingerprint(header)
    header["created"] = now()
    header["host"] = platform.node()
    return header


def fingerprint(header):
    """SHA-256 of the keys of ``header`` that change embeddings."""
    text = json.dumps({k: header.get(k) for k in FINGERPRINT_KEYS}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _differences(old, new):
    diffs = []
    for key in FINGERPRINT_KEYS:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
                      if a.get(k) != b.get(k)]
        elif a != b:
            diffs.append(f"{key}: {a!r} -> {b!r}")
    return diffs


def claim_folder(out, header):
    """Create ``out`` with ``header`` as its run.json, or check that it holds the same configuration.

    Raises
    ------
    ValueError
        The folder holds embeddings of another model, weights or
        preprocessing; the message lists what changed.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise ValueError(f"{path} is not readable JSON; remove the folder or choose another.") from None
        if old.get("fingerprint") != header["fingerprint"]:
            diffs = "; ".join(_differences(old, header)) or "fingerprint differs"
            raise ValueError(f"{out} holds embeddings of another configuration ({diffs}); write to a new "
                             "folder (or delete this one) rather than mixing them.")
        return old
    tmp = path.with_name(f"{RUN_FILE}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(header, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
    return header


def append(out, record):
    """Add one recording's entry to the manifest (flushed and synced: a kill loses at most this line)."""
    with open(Path(out) / MANIFEST_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_entries(out):
    """Every manifest entry in order (a cut last line is skipped)."""
    path = Path(out) / MANIFEST_FILE
    entries = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    return entries


def read_manifest(out, ids=None):
    """The manifest as a DataFrame: the last entry of each recording (of ``ids`` only, in that order, if given).

    Parameters
    ----------
    out : str or Path
        The output folder of :func:`~eegfm_sklearn.embed_recordings`.
    ids : list of str or None
        Recording ids to return, in this order (those without an entry
        are left out); None: every recording of the folder.

    Returns
    -------
    manifest : pandas.DataFrame
        One row per recording; columns listed in the corpus guide.
    """
    import pandas as pd

    latest = {}
    for entry in read_entries(out):
        latest[entry["recording_id"]] = entry
    rows = list(latest.values()) if ids is None else [latest[i] for i in ids if i in latest]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def read_run(out):
    """``run.json`` of an output folder, as a dict."""
    path = Path(out) / RUN_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out}: no {RUN_FILE}; is it an output folder of embed_recordings?")
    return json.loads(path.read_text())


COLUMNS = ["recording_id", "source", "kind", "subject", "session", "task", "run", "size", "sha256",
           "duration_s", "n_windows", "n_rejected", "status", "action", "cause", "seconds", "shard",
           "preprocessing", "warnings", "timings", "worker", "finished"]
