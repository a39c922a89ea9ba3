"""Embedding cache under 5-fold cross-validation: total time vs one embedding pass.

Runs, in one process and on the same windows (EEGMAT, 10 subjects, 4 s):
  1. one embedding pass: fit + transform of all windows (the unit);
  2. 5-fold cross_val_score of FoundationTransformer + LogisticRegression, no cache;
  3. the same with cache="memory" (cold cache: the first fold fills it), then once more with every
     embedding cached (the folds' fixed costs), and the classifier's own fits on cached embeddings;
  4. the same with a directory cache, in this process;
  5. the same with a directory cache and n_jobs=2 (joblib processes, started
     cold: each imports torch/mne/braindecode and runs with cores / n_jobs
     torch threads; both first folds miss the cache at once), then once more.
Prints each as seconds and as a ratio to (1). Target: (3), (4) <= 1.3x.

``--integrity`` instead measures what the self-checking cache costs, side by
side with what it replaced: reading verified entries (dtype, length,
checksum, finite values) vs ``np.load`` of plain ``.npy`` files; hashing a
weights file's content for the cache key vs loading that file.

    python benchmarks/bench_cache.py --model labram
    python benchmarks/bench_cache.py --integrity

``--smoke`` is the smallest setting (tiny architecture, 2 subjects, 2 folds),
run by the test suite; its timings mean nothing.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.utils.cache import MemoryStore


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_cpu(fn):
    """(wall seconds, CPU seconds of this process: all its threads, not joblib's worker processes)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="labram")
    parser.add_argument("--tiny", action="store_true", help="tiny architecture")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--integrity", action="store_true", help="cost of entry checks and content hashing")
    parser.add_argument("--subjects", type=int, default=10, help="first N EEGMAT subjects")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-windows", type=int, default=None, help="first N windows only (e.g. 256)")
    parser.add_argument("--no-jobs", action="store_true", help="skip the n_jobs=2 rows")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, 2 subjects, 2 folds")
    args = parser.parse_args()
    if args.integrity:
        return integrity()
    if args.smoke:
        args.tiny, args.subjects, args.folds = True, 2, 2
    torch.set_num_threads(args.threads)
    _ = get_model_card(args.model).module_class  # braindecode's import (lazy in the package) before any timing
    data = load_eegmat(range(args.subjects), window_seconds=4.0)
    if args.n_windows:
        data = type(data)(data.X[:args.n_windows], data.y[:args.n_windows], data.groups[:args.n_windows],
                          data.sfreq, data.ch_names)
    kwargs = dict(get_model_card(args.model).tiny_kwargs) if args.tiny else None

    def encoder(**extra):
        return FoundationTransformer(args.model, sfreq=data.sfreq, ch_names=data.ch_names, model_kwargs=kwargs,
                                     random_state=0, n_threads=args.threads, **extra)

    def cv(**extra):
        pipe = make_pipeline(encoder(**extra.pop("enc", {})), LogisticRegression(max_iter=1000))
        return cross_val_score(pipe, data.X, data.y, groups=data.groups, cv=GroupKFold(args.folds), **extra)

    # the process's first forward pays one-off costs (torch's kernels, allocator, lazy imports): a
    # warm-up on two windows keeps them out of the unit (they inflated it: CV with a cache measured
    # 0.6x of a cold "one pass")
    encoder().fit(data.X[:2]).transform(data.X[:2])
    rows = {"one embedding pass": timed_cpu(lambda: encoder().fit(data.X).transform(data.X))}
    k = f"{args.folds}-fold CV"
    rows[f"{k}, no cache"] = timed_cpu(lambda: cv())
    MemoryStore.clear()
    rows[f"{k}, cache='memory'"] = timed_cpu(lambda: cv(enc={"cache": "memory"}))
    # every embedding cached now: what is left is the folds' fixed costs (hashing, checks, copies, the
    # classifier's fits), which the cold rows above add to one pass
    rows["  again (warm cache: fixed costs)"] = timed_cpu(lambda: cv(enc={"cache": "memory"}))
    unit_cls = timed_cpu(lambda: cross_val_score(LogisticRegression(max_iter=1000), encoder(cache="memory").fit(
        data.X).transform(data.X), data.y, groups=data.groups, cv=GroupKFold(args.folds)))
    rows["  the classifier alone (cached embeddings)"] = unit_cls
    with tempfile.TemporaryDirectory() as folder:
        rows[f"{k}, cache=<dir>"] = timed_cpu(lambda: cv(enc={"cache": folder}))
    if not args.no_jobs:
        with tempfile.TemporaryDirectory() as folder:
            rows[f"{k}, cache=<dir>, n_jobs=2"] = timed_cpu(lambda: cv(enc={"cache": folder}, n_jobs=2))
            # the same again: worker processes already started, every embedding on disk
            rows["  again (warm workers, warm cache)"] = timed_cpu(lambda: cv(enc={"cache": folder}, n_jobs=2))
    unit, unit_cpu = rows["one embedding pass"]
    print(f"{args.model}{' (tiny)' if args.tiny else ''}, {len(data.X)} windows, {args.threads} threads; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'configuration':36s} {'seconds':>8s} {'x one pass':>10s} {'CPU s':>8s} {'CPU x one pass':>15s}")
    for name, (sec, cpu) in rows.items():
        print(f"{name:36s} {sec:8.2f} {sec / unit:10.2f} {cpu:8.2f} {cpu / unit_cpu:15.2f}")
    print("(CPU: this process's threads; with n_jobs=2 the workers' time is not in it)")


def best_of(fn, repeat=5):
    return min(timed(fn) for _ in range(repeat))


def integrity(n_windows=300, embedding_size=200, n_params=5_800_000):
    """Verified reads vs plain .npy reads; content hash vs load of a LaBraM-base-sized weights file."""
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from eegfm_sklearn.utils.cache import DirectoryStore
    from eegfm_sklearn.utils.hashing import read_sha256

    rng = np.random.default_rng(0)
    values = rng.standard_normal((n_windows, embedding_size)).astype(np.float32)
    keys = [f"{i:032x}" for i in range(n_windows)]
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        store = DirectoryStore(folder)
        rows["write, checked entries"] = best_of(lambda: store.put_many("c", keys, values))
        plain = Path(folder) / "plain"
        plain.mkdir()

        def write_npy():  # the previous store: temp file + np.save + os.replace, no checks
            for k, v in zip(keys, values):
                fd, tmp = tempfile.mkstemp(dir=plain, suffix=".tmp")
                with os.fdopen(fd, "wb") as f:
                    np.save(f, v)
                os.replace(tmp, plain / f"{k}.npy")

        rows["write, plain .npy (before)"] = best_of(write_npy)
        rows["read, checked entries"] = best_of(lambda: store.get_many("c", keys, (embedding_size,)))
        rows["read, plain .npy (before)"] = best_of(
            lambda: [np.load(p) if p.is_file() else None for p in (plain / f"{k}.npy" for k in keys)])
        weights = Path(folder) / "model.safetensors"
        save_file({"w": torch.from_numpy(rng.standard_normal(n_params).astype(np.float32))}, weights)
        rows[f"sha256 of weights ({weights.stat().st_size / 1e6:.0f} MB)"] = best_of(lambda: read_sha256(weights))
        rows["load of the same file, every value read"] = best_of(
            lambda: [t.sum() for t in load_file(weights).values()])
    print(f"{n_windows} windows x {embedding_size} float32; best of 5")
    for name, sec in rows.items():
        print(f"{name:40s} {sec * 1000:8.1f} ms")
    print(f"checked / plain: write {rows['write, checked entries'] / rows['write, plain .npy (before)']:.2f}x, "
          f"read {rows['read, checked entries'] / rows['read, plain .npy (before)']:.2f}x")


if __name__ == "__main__":
    main()
