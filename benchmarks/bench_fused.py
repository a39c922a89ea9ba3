"""The fused filters-and-resampling product: fixed-shape blocks of windows vs one window per product.

For each card whose adapter takes the fused path (``preprocessing/fused.py``), on
real EEG (EEGMAT, 19 channels, 500 Hz, µV) and the card's own matrix ``A``,
times side by side, interleaved within each repeat (order alternating):

* ``blocks``: ``apply_fused`` as the adapter runs it (a few whole windows per
  ``torch.mm``, every product of one shape);
* ``per window``: one ``torch.mm`` per window, the previous implementation;
* ``one product``: all rows in one ``torch.mm`` (fastest, but a window's last
  bits then depend on the batch: shown for reference, not used).

Prints CPU times of the main thread (one torch thread) and the ratios
per window / blocks, and checks that blocks and per window agree bit for bit.

    python benchmarks/bench_fused.py --models signal_jepa pbt --n-windows 32 --repeats 15

``--smoke`` (4 windows, 1 repeat) is run by the test suite; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from eegfm_sklearn import get_model_card
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing.adapter import InputAdapter
from eegfm_sklearn.preprocessing.fused import apply_fused, fused_matrix, worth_fusing


def per_window(A, X):
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    out = torch.empty((x.shape[0], x.shape[1], A.shape[1]), dtype=torch.float32)
    with torch.inference_mode():
        for i in range(len(x)):
            torch.mm(x[i], A, out=out[i])
    return out.numpy()


def one_product(A, X):
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    with torch.inference_mode():
        return (x.reshape(-1, x.shape[-1]) @ A).reshape(x.shape[0], x.shape[1], -1).numpy()


def cpu_ms(fn):
    start = time.thread_time()
    fn()
    return 1e3 * (time.thread_time() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["signal_jepa", "pbt"])
    parser.add_argument("--n-windows", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--smoke", action="store_true",
                        help="4 windows, 1 repeat (run by the test suite); its numbers mean nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n_windows, args.repeats = 4, 1
    torch.set_num_threads(1)
    data = load_eegmat(subjects=range(2), window_seconds=4.0, data_dir=args.data_dir, download=False)
    X = data.X[: args.n_windows]
    print(f"{len(X)} EEGMAT windows of {X.shape[1]} x {X.shape[2]} at {data.sfreq:g} Hz, one torch thread; "
          f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("| model | A (in x out) | blocks (ms) | per window (ms) | one product (ms) | per window / blocks | "
          "blocks == per window |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        ad = InputAdapter(get_model_card(model), data.sfreq, data.ch_names, "uV").fit(X)
        n_cols = min(ad.n_times_out_, ad.n_times_resampled_)
        if not worth_fusing(ad.filter_plan_, ad.n_times_in_, n_cols):
            print(f"| {model} | not fused at this rate and length | | | | | |")
            continue
        A = fused_matrix(ad.filter_plan_, ad.up_, ad.down_, ad.n_times_in_, n_cols)
        runs = {"blocks": lambda A=A: apply_fused(A, X), "per window": lambda A=A: per_window(A, X),
                "one product": lambda A=A: one_product(A, X)}
        same = np.array_equal(runs["blocks"](), runs["per window"]())
        times = {name: [] for name in runs}
        order = list(runs)
        for _ in range(args.repeats):
            for name in order:
                times[name].append(cpu_ms(runs[name]))
            order.reverse()
        med = {name: statistics.median(t) for name, t in times.items()}
        ratio = statistics.median(p / b for p, b in zip(times["per window"], times["blocks"]))
        print(f"| {model} | {A.shape[0]} x {A.shape[1]} | {med['blocks']:.1f} | {med['per window']:.1f} "
              f"| {med['one product']:.1f} | {ratio:.2f} | {same} |")
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
