"""Peak memory of the inputs that used to allocate far beyond their output (issue 21, §2).

Each case runs in a fresh subprocess (so the peaks do not mix) under an address-space cap
(``--cap-gib``, default 8: a runaway case fails with MemoryError instead of taking the machine),
and reports the process's peak resident memory (``VmHWM`` from ``/proc/self/status``), the size
of the input, and what happened (the output's shape, or the error's first words).

Run from the repository root: ``python benchmarks/bench_memory_guards.py``. To compare with
another checkout, pass ``--src OTHER_ROOT`` (its package is imported instead) and put the two
reports side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

CASES = {
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

PRELUDE = """
import resource, sys, numpy as np
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
sys.path.insert(0, {src!r})
from eegfm_sklearn import FoundationTransformer, get_model_card
def tiny(m): return dict(get_model_card(m).tiny_kwargs)
NAMES = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
         "T6", "O1", "O2"]
rng = np.random.default_rng(0)
import warnings; warnings.simplefilter("ignore")
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
try:
{body}
    result = "ok: output " + str(getattr(out, "shape", type(out).__name__))
except Exception as err:
    result = type(err).__name__ + ": " + str(err)[:160]
import json
print(json.dumps({{"peak": peak(), "input": int(X.nbytes), "result": result}}))
"""


def run(name, src, cap):
    body = textwrap.indent(textwrap.dedent(CASES[name]).strip(), "    ")
    code = PRELUDE.format(cap=cap, src=src, body=body)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"peak": None, "input": None, "result": f"crashed (rc {proc.returncode}): {proc.stderr[-200:]}"}
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.getcwd(), help="repository root whose package is measured")
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    cap = int(args.cap_gib * 2**30)
    print(f"package from {args.src}; address-space cap {args.cap_gib:g} GiB")
    print(f"{'case':32s} {'input':>9s} {'peak':>9s} {'peak/input':>10s}  result")
    for name in args.cases:
        r = run(name, args.src, cap)
        def gib(b):
            return "-" if b is None else f"{b / 2**30:.2f}G"

        ratio = "-" if not r["peak"] or not r["input"] else f"{r['peak'] / r['input']:.1f}x"
        print(f"{name:32s} {gib(r['input']):>9s} {gib(r['peak']):>9s} {ratio:>10s}  {r['result'][:150]}")


if __name__ == "__main__":
    main()
