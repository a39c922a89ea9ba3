"""Peak memory of the inputs that used to allocate far beyond their output (issue 21, §2).

Each case runs in a fresh subprocess (so the peaks do not mix) under an address-space cap
(``--cap-gib``, default 8: a runaway case fails with MemoryError instead of taking the machine),
and reports the process's peak resident memory (``VmHWM`` from ``/proc/self/status``), the size
of the input, and what happened (the output's shape, or the error's first words).

Run from the repository root: ``python benchmarks/bench_memory_guards.py [CASE ...]``. To compare
with another checkout (``git worktree add /tmp/before HEAD~3``, or ``git archive``), pass
``--before /tmp/before``: each case runs with both packages and the peaks are printed side by side.
``baseline-imports`` is what any case pays before its input (interpreter, torch, a tiny model).
``--stated``: the memory ``describe_preprocessing()`` states for an adapter call
(``InputAdapter.working_bytes``) against that call's measured peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

CASES = {
    # the interpreter with the package, torch and a tiny LaBraM: what every case pays before its input
    "baseline-imports": """
        X = rng.standard_normal((1, 19, 2000), dtype=np.float32) * 20
        out = FoundationTransformer("labram", sfreq=200, ch_names=NAMES, model_kwargs=tiny("labram")).fit_transform(X)
    """,
    # two 60 s trials, LaBraM's 15 s sub-windows stepped by one sample
    "labram-split-overlap-0.9999": """
        X = rng.standard_normal((2, 19, 60 * 250), dtype=np.float32) * 20
        est = FoundationTransformer("labram", sfreq=250, ch_names=NAMES, window_policy="split",
                                    split_overlap=0.9999, model_kwargs=tiny("labram"))
        out = est.fit(X).transform(X)
    """,
    # the same trials with a sane overlap: the sub-windows are embedded a batch at a time
    "labram-split-overlap-0.99": """
        X = rng.standard_normal((2, 19, 60 * 250), dtype=np.float32) * 20
        est = FoundationTransformer("labram", sfreq=250, ch_names=NAMES, window_policy="split",
                                    split_overlap=0.99, model_kwargs=tiny("labram"), batch_size=16)
        out = est.fit(X).transform(X)
    """,
    # fine-tuning on 16 trials of 60 s, LaBraM's 15 s sub-windows every 0.152 s: 298 per trial, 4768 in all
    # (1.0 GiB adapted at 200 Hz; forwarded with gradients a batch of 16 trials at once: 4768 windows)
    "labram-finetune-split-0.99": """
        X = rng.standard_normal((16, 19, 60 * 250), dtype=np.float32) * 20
        est = FoundationClassifier("labram", sfreq=250, ch_names=NAMES, window_policy="split",
                                   split_overlap=0.99, model_kwargs=tiny("labram"), batch_size=16,
                                   max_epochs=1, random_state=0)
        out = est.fit(X, np.arange(16) % 2).predict_proba(X)
    """,
    # one window of 10 million samples at 1000 Hz (2.8 h) resampled to BENDR's 256 Hz
    "bendr-10M-samples": """
        X = rng.standard_normal((1, 19, 10_000_000), dtype=np.float32) * 20
        est = FoundationTransformer("bendr", sfreq=1000, ch_names=NAMES, model_kwargs=tiny("bendr"))
        out = est.fit(X).adapter_.transform(X)  # the adapter alone: the forward of 2.8 h is another matter
    """,
    # a window 50x BIOT's maximum: refused
    "biot-too-long-window": """
        X = rng.standard_normal((1, 19, 5_000_000)) * 20  # float64, 0.7 GiB
        est = FoundationTransformer("biot", sfreq=200, ch_names=NAMES, model_kwargs=tiny("biot"))
        out = est.fit(X)
    """,
}

# What describe_preprocessing() states (InputAdapter.working_bytes) against the measured peak of the
# same adapter call: ``call`` is measured, ``stated`` its bound.
STATED = {
    "bendr-10M-samples": """
        X = rng.standard_normal((1, 19, 10_000_000), dtype=np.float32) * 20
        ad = FoundationTransformer("bendr", sfreq=1000, ch_names=NAMES, model_kwargs=tiny("bendr")).fit(X).adapter_
        call, stated = (lambda: ad.transform(X)), ad.working_bytes(1)
    """,
    "biot-64-windows-250Hz": """
        X = rng.standard_normal((64, 19, 2500), dtype=np.float32) * 20
        ad = FoundationTransformer("biot", sfreq=250, ch_names=NAMES, model_kwargs=tiny("biot")).fit(X).adapter_
        call, stated = (lambda: ad.transform(X)), ad.working_bytes(64)
    """,
    "labram-64-windows-500Hz-filters": """
        X = rng.standard_normal((64, 19, 5000), dtype=np.float32) * 20
        ad = FoundationTransformer("labram", sfreq=500, ch_names=NAMES, model_kwargs=tiny("labram")).fit(X).adapter_
        call, stated = (lambda: ad.transform(X)), ad.working_bytes(64)
    """,
    "labram-split-0.99-16-subwindows": """
        X = rng.standard_normal((2, 19, 60 * 250), dtype=np.float32) * 20
        ad = FoundationTransformer("labram", sfreq=250, ch_names=NAMES, window_policy="split", split_overlap=0.99,
                                   model_kwargs=tiny("labram")).fit(X).adapter_
        call, stated = (lambda: ad.transform(X[:1], part=slice(0, 16))), ad.working_bytes(1, n_sub=16)
    """,
}

STATED_RUN = """
import ctypes
ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap back to the system: new allocations show in the RSS
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current RSS
start = rss()
out = call()
measured = peak() - start
print(json.dumps({{"stated": int(stated), "measured": int(measured), "output": int(out.nbytes)}}))
"""

PRELUDE = """
import resource, sys, time, numpy as np
START = time.perf_counter()
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
sys.path.insert(0, {src!r})
from eegfm_sklearn import FoundationClassifier, FoundationTransformer, get_model_card
def tiny(m): return dict(get_model_card(m).tiny_kwargs)
NAMES = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
         "T6", "O1", "O2"]
rng = np.random.default_rng(0)
import warnings; warnings.simplefilter("ignore")
def peak(key="VmHWM"):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
def rss():
    return peak("VmRSS")
import json
try:
{body}
    result = "ok: output " + str(getattr(out, "shape", type(out).__name__))
except Exception as err:
    result = type(err).__name__ + ": " + str(err)[:160]
import json
print(json.dumps({{"peak": peak(), "input": int(X.nbytes), "result": result, "seconds": time.perf_counter() - START}}))
"""


def run(name, src, cap):
    body = textwrap.indent(textwrap.dedent(CASES[name]).strip(), "    ")
    code = PRELUDE.format(cap=cap, src=src, body=body)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"peak": None, "input": None, "seconds": None,
                "result": f"crashed (rc {proc.returncode}): {proc.stderr[-200:]}"}
    return json.loads(lines[-1])


def run_stated(name, src, cap):
    body = textwrap.dedent(STATED[name]).strip()
    pre = PRELUDE.split("try:")[0].format(cap=cap, src=src)
    code = pre + body + "\n" + STATED_RUN.format()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{name} crashed (rc {proc.returncode}): {proc.stderr[-400:]}")
    return json.loads(lines[-1])


def gib(b):
    return "-" if b is None else f"{b / 2**30:.2f}G"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.getcwd(), help="repository root whose package is measured")
    parser.add_argument("--before", help="another repository root (e.g. the previous commit): both are measured, "
                                         "side by side")
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--stated", action="store_true",
                        help="compare the memory describe_preprocessing() states with the measured peak instead")
    parser.add_argument("cases", nargs="*")
    args = parser.parse_args()
    cap = int(args.cap_gib * 2**30)
    if args.stated:
        print("adapter calls: stated = InputAdapter.working_bytes (what describe_preprocessing() says), "
              "measured = VmHWM over VmRSS before the call (after malloc_trim)")
        print(f"{'case':34s} {'output':>9s} {'stated':>9s} {'measured':>9s} {'measured/stated':>16s}")
        for name in args.cases or list(STATED):
            r = run_stated(name, args.src, cap)
            print(f"{name:34s} {r['output'] / 2**20:8.1f}M {r['stated'] / 2**20:8.1f}M {r['measured'] / 2**20:8.1f}M "
                  f"{r['measured'] / r['stated']:16.2f}", flush=True)
        return
    args.cases = args.cases or list(CASES)
    sources = ([("before", args.before)] if args.before else []) + [("after" if args.before else "peak", args.src)]
    print(f"package from {', '.join(f'{k}: {v}' for k, v in sources)}; address-space cap {args.cap_gib:g} GiB; "
          "peak = VmHWM (resident)")
    head = " ".join(f"{k:>9s} {'x input':>8s} {'s':>6s}" for k, _ in sources)
    print(f"{'case':30s} {'input':>8s} {head}  result")
    for name in args.cases:
        rows = [run(name, src, cap) for _, src in sources]
        cells = []
        for r in rows:
            ratio = "-" if not r["peak"] or not r["input"] else f"{r['peak'] / r['input']:.1f}x"
            secs = "-" if r.get("seconds") is None else f"{r['seconds']:.0f}"
            cells.append(f"{gib(r['peak']):>9s} {ratio:>8s} {secs:>6s}")
        results = " | ".join(r["result"][:70] for r in rows)
        print(f"{name:30s} {gib(rows[-1]['input']):>8s} {' '.join(cells)}  {results}", flush=True)


if __name__ == "__main__":
    main()
