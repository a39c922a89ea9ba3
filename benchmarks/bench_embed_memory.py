"""Peak memory of ``eegfm embed`` on a short and a long recording: flat in the recording's length?

Writes synthetic FIF recordings (float32, 8 channels at 128 Hz: a 10-hour
file is ~150 MB) into a temporary folder, deleted afterwards, then runs
``eegfm embed FILE -o out.npy`` on each in a fresh interpreter and prints
that process's peak resident memory and the difference. Target: the
10-hour peak within 100 MB of the 10-minute one.

The peak is ``VmHWM`` from ``/proc/self/status``, read by the embedding
process as it ends: the high-water mark of its own address space.
``getrusage(...).ru_maxrss`` is not used: Linux carries the parent's peak
into a child across ``exec``, so a parent that once held a long recording
inflates every child's figure with it.

    python benchmarks/bench_embed_memory.py                 # 10 min vs 10 h, labram (tiny)
    python benchmarks/bench_embed_memory.py --minutes 10 60 --full-size

``--smoke`` is the smallest setting (0.5 and 2 minutes), run by the test
suite; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHANNELS = ("Fp1", "Fp2", "C3", "C4", "P3", "P4", "O1", "O2")
PIECE_MINUTES = 10.0

# Runs `eegfm embed` in-process and reports its own peak RSS (VmHWM) as JSON on the last line.
CHILD = r"""
import json, sys, time
from eegfm_sklearn.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
status = open("/proc/self/status").read()
peak_kb = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({"code": code, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))
"""


def write_recording(minutes, folder, sfreq):
    """A FIF file of ``minutes`` of 1/f-like noise plus a 10 Hz rhythm, written piece by piece.

    Ten-minute pieces are concatenated without loading them (mne reads
    each buffer from the pieces while saving), so writing a 10-hour file
    needs only a piece's memory; the joins' boundary annotations are
    dropped (the data are continuous by construction).
    """
    import mne

    rng = np.random.default_rng(0)
    n = int(round(min(minutes, PIECE_MINUTES) * 60 * sfreq))
    t = np.arange(n) / sfreq
    noise = np.cumsum(rng.standard_normal((len(CHANNELS), n)), axis=1)
    noise -= np.linspace(noise[:, :1], noise[:, -1:], n, axis=1)[..., 0]  # pieces join without steps
    data = 1e-6 * (5 * noise / noise.std() + 10 * np.sin(2 * np.pi * 10 * t))  # V
    info = mne.create_info(list(CHANNELS), sfreq, "eeg")
    piece = Path(folder) / "piece_raw.fif"
    mne.io.RawArray(data, info, verbose=False).save(piece, fmt="single", overwrite=True, verbose=False)
    n_pieces = int(np.ceil(minutes / PIECE_MINUTES))
    raws = [mne.io.read_raw_fif(piece, preload=False, verbose=False) for _ in range(n_pieces)]
    raw = mne.concatenate_raws(raws, verbose=False) if n_pieces > 1 else raws[0]
    raw.set_annotations(None)
    raw.crop(0, minutes * 60 - 1 / sfreq)
    path = Path(folder) / f"rec_{minutes:g}min_raw.fif"
    raw.save(path, fmt="single", overwrite=True, verbose=False)
    piece.unlink()
    return path


def embed(path, out, args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-c", CHILD, "embed", str(path), "-o", str(out), "--model", args.model,
           "--window", str(args.window), "--batch-size", str(args.batch_size), "-q"]
    if not args.full_size:
        cmd.append("--tiny")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"eegfm embed failed on {path.name}:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"eegfm embed exited with {result['code']} on {path.name}:\n{proc.stderr[-3000:]}")
    result["windows"] = int(np.load(out, mmap_mode="r").shape[0])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="labram")
    parser.add_argument("--minutes", type=float, nargs=2, default=[10, 600], metavar=("SHORT", "LONG"))
    parser.add_argument("--sfreq", type=float, default=128.0)
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--full-size", action="store_true", help="the card's full architecture (default: tiny)")
    parser.add_argument("--smoke", action="store_true", help="smallest setting, seconds: 0.5 and 2 minutes")
    args = parser.parse_args(argv)
    if args.smoke:
        args.minutes = [0.5, 2.0]
    size = "full-size" if args.full_size else "tiny"
    print(f"eegfm embed, {args.model} ({size}), {len(CHANNELS)} channels at {args.sfreq:g} Hz (FIF float32), "
          f"{args.window:g} s windows, batch {args.batch_size}, output .npy")
    print(f"{'minutes':>8s} {'file MB':>8s} {'windows':>8s} {'seconds':>8s} {'peak RSS MB':>12s}")
    peaks = []
    with tempfile.TemporaryDirectory(prefix="eegfm_bench_") as folder:
        for minutes in args.minutes:
            path = write_recording(minutes, folder, args.sfreq)
            size_mb = path.stat().st_size / 2**20
            res = embed(path, Path(folder) / "emb.npy", args)
            path.unlink()
            peaks.append(res["peak_rss_mb"])
            print(f"{minutes:8g} {size_mb:8.1f} {res['windows']:8d} {res['seconds']:8.1f} {res['peak_rss_mb']:12.0f}",
                  flush=True)
    diff = peaks[1] - peaks[0]
    print(f"difference (long - short): {diff:+.0f} MB; within 100 MB: {'yes' if abs(diff) <= 100 else 'no'}")


if __name__ == "__main__":
    main()
