"""A corpus on one machine: serial vs ``jobs=2`` vs a 2-worker dask LocalCluster, and the bookkeeping's cost.

Embeds the same EEGMAT recordings (``--subjects`` subjects, both files each)
with :func:`eegfm_sklearn.embed_recordings` three ways, each into a fresh
folder, one torch thread per task:
  1. serial, in this process;
  2. ``jobs=2`` (joblib/loky processes), cold (workers start and import) and
     warm (a second corpus on the same workers, whose backbone is cached);
  3. a LocalCluster with 2 worker processes (its start-up timed apart), cold
     and warm likewise.
Prints recordings/s and windows/s with the ratio to serial, peak resident
memory per worker (dask workers' and this process's ru_maxrss), and the
bookkeeping per recording (source hashing, shard check, shard writing, the
manifest line with fsync) as a share of the embedding time (goal <= 5 %).

    python benchmarks/bench_corpus.py --model labram --subjects 5
    python benchmarks/bench_corpus.py --smoke     # tiny model, 1 subject: timings mean nothing
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eegfm_sklearn import embed_recordings, get_model_card
from eegfm_sklearn.corpus import manifest
from eegfm_sklearn.utils._data_dir import get_data_dir


def rss_mb():
    """Peak resident memory of this process, MB (VmHWM: ru_maxrss is inherited from a fork+exec parent)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="labram")
    parser.add_argument("--tiny", action="store_true", help="the card's tiny architecture")
    parser.add_argument("--subjects", type=int, default=5, help="first N EEGMAT subjects (2 files each)")
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--smoke", action="store_true", help="tiny model, 1 subject: runs in a minute")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.subjects = True, 1
    folder = get_data_dir() / "eegmat"
    files = [folder / f"Subject{s:02d}_{k}.edf" for s in range(args.subjects) for k in (1, 2)]
    missing = [f for f in files if not f.exists()]
    if missing:
        sys.exit(f"missing {missing[0]}: set EEGFM_DATA_DIR to the shared recordings.")
    kw = {"model": args.model, "window_seconds": args.window, "verbose": 0,
          "model_kwargs": dict(get_model_card(args.model).tiny_kwargs) if args.tiny else None}
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"{args.model}{' (tiny)' if args.tiny else ''}, {len(files)} EEGMAT recordings ({size:.0f} MB), "
          f"{args.window:g} s windows, 1 torch thread per task; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench_corpus_") as tmp:
        _measure(files, kw, Path(tmp))


def _measure(files, kw, tmp):
    rows, tables = [], {}

    def run(name, **extra):
        seconds, table = timed(lambda: embed_recordings(files, tmp / name.replace(" ", "_"), **kw, **extra))
        assert (table["status"] == "done").all(), table["cause"].dropna().tolist()
        tables[name] = table
        rows.append((name, seconds, len(table), int(table["n_windows"].sum())))

    run("serial")
    serial_rss = rss_mb()
    run("jobs=2 cold", jobs=2)
    run("jobs=2 warm", jobs=2)  # another folder, same workers (backbone cached)
    from distributed import Client, LocalCluster

    start_s, cluster = timed(lambda: LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                  dashboard_address=None))
    with cluster, Client(cluster) as client:
        run("dask 2 workers cold", client=client)
        run("dask 2 workers warm", client=client)
        worker_rss = client.run(rss_mb)
    base = rows[0][1]
    print(f"\n{'mode':<22}{'seconds':>9}{'rec/s':>8}{'windows/s':>11}{'vs serial':>11}")
    for name, seconds, n_rec, n_win in rows:
        print(f"{name:<22}{seconds:>9.2f}{n_rec / seconds:>8.3f}{n_win / seconds:>11.1f}{base / seconds:>11.2f}")
    print(f"(LocalCluster start-up: {start_s:.1f} s, not counted)")
    print(f"\npeak RSS (VmHWM): serial process {serial_rss:.0f} MB; dask workers "
          + ", ".join(f"{v:.0f} MB" for v in worker_rss.values()))

    # bookkeeping per recording, from the serial run's own timings (+ the manifest line, timed here)
    t = tables["serial"]["timings"].apply(lambda d: d if isinstance(d, dict) else {})
    hash_s, check_s, write_s, total_s = (np.array([d.get(k, 0.0) for d in t]) for k in
                                         ("hash", "check", "write", "total"))
    entries = manifest.read_entries(tmp / "serial")
    sink = tmp / "manifest_timing"
    sink.mkdir()
    append_s, _ = timed(lambda: [manifest.append(sink, e) for e in entries])
    append_s /= len(entries)
    embed_s = total_s - hash_s - check_s - write_s
    book = hash_s + check_s + write_s + append_s
    print("\nper recording (serial, mean):")
    for name, v in (("embedding (read, fit, forward)", embed_s), ("hash source (SHA-256)", hash_s),
                    ("shard check", check_s), ("shard write (open/rows/close/rename)", write_s),
                    ("manifest line (+fsync)", np.full_like(embed_s, append_s))):
        print(f"  {name:<38}{np.mean(v) * 1e3:>10.1f} ms")
    print(f"bookkeeping / embedding: {np.sum(book) / np.sum(embed_s) * 100:.2f} % (goal <= 5 %)")


if __name__ == "__main__":
    main()
