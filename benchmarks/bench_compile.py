"""``compile=True`` on CPU against eager, every model at full size.

For each model (the card's full-size architecture, random weights, the same
seed for both estimators, so the same weights), on the same EEGMAT windows
with the same threads, one process:

* compile: the first ``transform`` of the ``compile=True`` estimator (which
  traces and compiles the model) minus the median eager ``transform``, wall
  seconds; a failure to compile (the estimator's ``CompileWarning``, after
  which it runs eagerly) is reported instead of the figures;
* throughput: ``transform`` of both estimators, interleaved over
  ``--repeats`` repeats (their order alternating), median windows per second
  of wall time and of this process's CPU time; the ratio compiled / eager
  (above 1: compile wins);
* max |diff|: the largest absolute difference of the two embeddings, and the
  largest absolute embedding value for scale.

Inductor compiles with one worker thread (``TORCHINDUCTOR_COMPILE_THREADS=1``,
one process as the rest of the benchmark) into a fresh cache folder, removed
at the end, so every compile is cold.

    python benchmarks/bench_compile.py --threads 1 --repeats 3

Models whose forward takes seconds per window on one thread get fewer windows
(``REDUCED_WINDOWS``, printed in the table). ``--smoke`` is the smallest
setting (BIOT's tiny architecture, 2 windows, 1 repeat), run by the test
suite; its numbers mean nothing.
"""

import os
import tempfile

_CACHE = tempfile.TemporaryDirectory(prefix="eegfm_bench_compile_")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE.name  # before torch reads its config: a cold cache
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eegfm_sklearn import FoundationTransformer, get_model_card, list_models  # noqa: E402
from eegfm_sklearn.datasets import load_eegmat  # noqa: E402
from eegfm_sklearn.utils.compiling import CompileWarning  # noqa: E402

# ~0.15 windows/s on one thread (docs/throughput.json): fewer windows, same architecture.
REDUCED_WINDOWS = {"zuna": 2}


def _timed(fn):
    """(wall seconds, process CPU seconds, result) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def bench_model(model, X, sfreq, ch_names, repeats, threads, tiny):
    kwargs = dict(sfreq=sfreq, ch_names=ch_names, batch_size=len(X), random_state=0, n_threads=threads,
                  model_kwargs=dict(get_model_card(model).tiny_kwargs) if tiny else None)
    eager = FoundationTransformer(model, **kwargs).fit(X)
    compiled = FoundationTransformer(model, compile=True, **kwargs).fit(X)
    ref = eager.transform(X)  # warm-up
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileWarning)
        first, _, out = _timed(lambda: compiled.transform(X))
    failure = next((w for w in caught if issubclass(w.category, CompileWarning)), None)
    if failure is not None:
        return {"failure": str(failure.message).split("failed for ", 1)[-1].split("; running", 1)[0]}
    times = {"eager": [], "compiled": []}
    for r in range(repeats):
        order = ("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")
        for name in order:
            est = eager if name == "eager" else compiled
            wall, cpu, _ = _timed(lambda est=est: est.transform(X))
            times[name].append((wall, cpu))
    med = {name: np.median(t, axis=0) for name, t in times.items()}
    return {"compile_s": first - med["eager"][0], "eager": len(X) / med["eager"], "compiled": len(X) / med["compiled"],
            "diff": float(np.abs(out - ref).max()), "scale": float(np.abs(ref).max())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=None, help="default: every card")
    parser.add_argument("--n-windows", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="each card's tiny architecture")
    parser.add_argument("--smoke", action="store_true", help="smallest setting: tiny BIOT, 2 windows, 1 repeat")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.n_windows, args.repeats = True, 2, 1
        args.models = args.models or ["biot"]
    models = args.models or list_models()
    torch.set_num_threads(args.threads)
    data = load_eegmat(range(1), window_seconds=4.0, download=False)
    size = "tiny" if args.tiny else "full-size"
    print(f"{size} models, EEGMAT windows of 4 s at 500 Hz (batch = all windows), {args.repeats} repeats, "
          f"{args.threads} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start")
    print("| model | windows | compile s | eager win/s (wall) | compiled win/s (wall) | ratio (wall) "
          "| eager win/CPU s | compiled win/CPU s | ratio (CPU) | max abs diff | max abs value |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for model in models:
            n = REDUCED_WINDOWS.get(model, args.n_windows) if not args.tiny else args.n_windows
            r = bench_model(model, data.X[:n], data.sfreq, data.ch_names, args.repeats, args.threads, args.tiny)
            if "failure" in r:
                print(f"| {model} | {n} | failed: {r['failure'][:120].replace('|', '/')} |" + " - |" * 8, flush=True)
                continue
            (ew, ec), (cw, cc) = r["eager"], r["compiled"]
            print(f"| {model} | {n} | {r['compile_s']:.1f} | {ew:.2f} | {cw:.2f} | {cw / ew:.3f} | {ec:.2f} | {cc:.2f} "
                  f"| {cc / ec:.3f} | {r['diff']:.2e} | {r['scale']:.2e} |", flush=True)
            torch._dynamo.reset()  # each model's graphs freed before the next
    finally:
        _CACHE.cleanup()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
