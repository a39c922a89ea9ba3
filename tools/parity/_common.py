"""Shared by the parity generators: real EEGMAT windows and the fixture writer.

The generators run the authors' own model code (a checkout passed with ``--repo``; it is
imported from there, never copied into this project) and write ``tests/parity/<case>/``:
``meta.json``, the checkpoint in the authors' layout, ``input.npz`` (``X``, ``sfreq``,
``ch_names``) and ``features.npy``. See docs/guide/parity.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PARITY = ROOT / "tests" / "parity"


def parse_args(doc):
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--repo", required=True, type=Path, help="checkout of the authors' repository")
    parser.add_argument("--commit", default=None, help="commit of that checkout (default: git rev-parse)")
    args = parser.parse_args()
    args.repo = args.repo.resolve()
    sys.path.insert(0, str(args.repo))
    if args.commit is None:
        try:
            args.commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "HEAD"], check=True,
                                         capture_output=True, text=True).stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            sys.exit("--commit is required: the checkout is not a git work tree")
    return args


def eegmat_raw(subject=0, run=2):
    """The EEGMAT recording (µV in the file; mne returns volts)."""
    import mne

    folder = Path(os.environ.get("EEGFM_DATA_DIR", ROOT.parent / "shared" / "data")) / "eegmat"
    raw = mne.io.read_raw_edf(folder / f"Subject{subject:02d}_{run}.edf", preload=True, verbose="error")
    return raw


EEG19 = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4", "T5", "T6", "P3", "P4", "O1", "O2",
         "Fz", "Cz", "Pz"]


def eegmat_windows(sfreq, seconds, n_windows, names=EEG19, start_s=10.0, subject=0):
    """``n_windows`` consecutive windows (µV, float32) of EEGMAT at ``sfreq``, resampled by mne.

    Returns ``X`` (n_windows, n_names, n_samples) and the names (without the ``EEG `` prefix).
    """
    raw = eegmat_raw(subject).pick([f"EEG {n}" for n in names])
    raw.crop(start_s, start_s + seconds * n_windows + 2.0)
    if raw.info["sfreq"] != sfreq:
        raw.resample(sfreq, verbose="error")
    n = round(seconds * sfreq)
    data = raw.get_data(units="uV")[:, : n * n_windows]
    X = data.reshape(len(names), n_windows, n).transpose(1, 0, 2)
    return np.ascontiguousarray(X, dtype=np.float32), list(names)


def bfloat16_grid(module):
    """Round every parameter to bfloat16 precision (kept float32): the file deflates ~2x."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.bfloat16().float())


def save_torch_deflated(obj, path):
    """``torch.save``, then the same zip archive with deflated members (torch.load reads both)."""
    import zipfile

    import torch

    torch.save(obj, path)
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in members:
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


def write_fixture(case, *, model, X, sfreq, ch_names, features, checkpoint_name, save_checkpoint, source,
                  estimator_kwargs=None, rtol=1e-5, compare="transform", extra=None):
    """Write ``tests/parity/<case>/``; ``save_checkpoint(path)`` writes the authors' file."""
    folder = PARITY / case
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / checkpoint_name)
    np.savez_compressed(folder / "input.npz", X=np.asarray(X, np.float32), sfreq=np.float64(sfreq),
                        ch_names=np.asarray(ch_names))
    np.save(folder / "features.npy", np.asarray(features, np.float32))
    meta = {
        "model": model,
        "checkpoint": checkpoint_name,
        "input": "input.npz",
        "features": "features.npy",
        "compare": compare,
        "estimator_kwargs": estimator_kwargs or {},
        "rtol": rtol,
        "source": source,
    }
    meta.update(extra or {})
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {folder} ({size / 1e6:.2f} MB)")
    return folder
