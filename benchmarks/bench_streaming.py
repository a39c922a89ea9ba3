"""Peak memory of FoundationTransformer.transform on a long Raw: 10 min vs 60 min.

Writes a 19-channel FIF file of the requested duration (EEGMAT signal tiled),
then, in a fresh subprocess per duration, opens it without preloading and
embeds sliding windows; the subprocess reports its peak RSS. Target: peak
<= 1.5 GB and flat in duration.

    python benchmarks/bench_streaming.py --model labram --minutes 10 60

``--smoke`` is the smallest setting (tiny architecture, a 0.5 min file), run
by the test suite; its numbers mean nothing.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import mne, torch
from eegfm_sklearn import FoundationTransformer, get_model_card
torch.set_num_threads(2)
path, model, tiny = sys.argv[1], sys.argv[2], sys.argv[3] == "tiny"
raw = mne.io.read_raw_fif(path, preload=False, verbose=False)
kwargs = dict(get_model_card(model).tiny_kwargs) if tiny else None
tr = FoundationTransformer(model, window_seconds=4.0, random_state=0, batch_size=32, model_kwargs=kwargs)
start = time.perf_counter()
emb = tr.fit(raw).transform(raw)
print(json.dumps({"windows": len(emb), "seconds": time.perf_counter() - start,
                  # VmHWM: this process's own peak; ru_maxrss would carry the parent's across exec
                  "peak_rss_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024}))
"""


def write_recording(minutes, folder):
    import mne
    import numpy as np

    from eegfm_sklearn.datasets import load_eegmat

    data = load_eegmat([0], window_seconds=60.0, last_seconds=None)
    signal = np.concatenate(list(data.X), axis=1) * 1e-6  # V, 19 channels
    n = int(minutes * 60 * data.sfreq)
    reps = -(-n // signal.shape[1])
    info = mne.create_info([c.replace("EEG ", "") for c in data.ch_names], data.sfreq, "eeg")
    raw = mne.io.RawArray(np.tile(signal, reps)[:, :n], info, verbose=False)
    path = Path(folder) / f"rec_{minutes}min_raw.fif"
    raw.save(path, overwrite=True, verbose=False)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="labram")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--tiny", action="store_true", help="tiny architecture")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, one 0.5 min file")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.minutes = True, [0.5]
    with tempfile.TemporaryDirectory() as folder:
        size = " (tiny)" if args.tiny else ""
        print(f"{args.model}{size}: 19 channels at 500 Hz, 4 s windows, file read without preload")
        print(f"{'minutes':>8s} {'windows':>8s} {'seconds':>8s} {'peak RSS MB':>12s}")
        for minutes in args.minutes:
            path = write_recording(minutes, folder)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), args.model,
                                  "tiny" if args.tiny else "full"],
                                 capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{minutes:8g} {res['windows']:8d} {res['seconds']:8.1f} {res['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()
