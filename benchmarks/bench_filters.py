"""What the card's filters cost next to the forward pass (CPU), windows and a continuous Raw.

For a model whose card states filters (default LaBraM: 0.1-75 Hz band-pass +
50 Hz notch), at full size with random weights, interleaved within each
repeat (order alternating), on real EEG (EEGMAT, 19 channels, 500 Hz):

* ``forward``: the braindecode module alone on the adapted windows;
* ``adapter card`` / ``adapter none``: ``est.adapter_.transform`` batch by
  batch with ``filters="card"`` (per-window filters) and ``filters=None``;
* ``transform card`` / ``transform none``: ``FoundationTransformer.transform``
  on the windows, both settings;
* ``raw card`` / ``raw none``: ``transform`` of a continuous ``mne.io.Raw``
  (``window_seconds``), where ``"card"`` filters the recording in chunks
  before windowing (mne's FIR, as ``raw.filter``).

Prints medians (ms) and, from runs adjacent in time, the median ratios:
adapter / forward for both settings, and transform card / none (windows and
Raw). Run from the project root:

    python benchmarks/bench_filters.py --n-windows 64 --batch-size 16 --repeats 7 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import mne
import torch

from eegfm_sklearn import FoundationTransformer
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.utils._data_dir import get_data_dir


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="labram")
    parser.add_argument("--n-windows", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--raw-seconds", type=float, default=120.0, help="length of the continuous recording")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="A window was not provided")

    data = load_eegmat(subjects=range(2), window_seconds=4.0, download=False)
    X, sfreq, names = data.X[: args.n_windows], data.sfreq, data.ch_names
    raw = mne.io.read_raw_edf(get_data_dir() / "eegmat" / "Subject00_1.edf", preload=True, verbose=False)
    raw.pick([n for n in raw.ch_names if n.startswith("EEG") and "-" not in n]).crop(0, args.raw_seconds)

    common = dict(model=args.model, batch_size=args.batch_size, random_state=0)
    est = {f: FoundationTransformer(**common, sfreq=sfreq, ch_names=names, filters=f).fit(X) for f in ("card", None)}
    est_raw = {f: FoundationTransformer(**common, window_seconds=4.0, filters=f).fit(raw) for f in ("card", None)}
    card = est["card"].card_
    backbone = est["card"].backbone_.eval()
    extra = card.forward_kwargs_for(est["card"].channel_report_.slots, est["card"].adapter_.slot_positions_)
    Xt = est["card"].adapter_.transform(X)
    size = args.batch_size

    @torch.inference_mode()
    def forward():
        return [card.features(backbone(torch.from_numpy(Xt[i:i + size]), return_features=True, **extra))
                for i in range(0, len(Xt), size)]

    def adapter(e):
        return lambda: [e.adapter_.transform(X[i:i + size]) for i in range(0, len(X), size)]

    runs = {
        "forward": forward,
        "adapter card": adapter(est["card"]), "adapter none": adapter(est[None]),
        "transform card": lambda: est["card"].transform(X), "transform none": lambda: est[None].transform(X),
        "raw card": lambda: est_raw["card"].transform(raw), "raw none": lambda: est_raw[None].transform(raw),
    }
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    order = list(runs)
    for _ in range(args.repeats):
        for name in order:
            times[name].append(_timed(runs[name]))
        order.reverse()

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    n_raw = len(est_raw["card"].transform(raw))
    print(f"{args.model}, {len(X)} windows 19 x 2000 at {sfreq:g} Hz, batch {size}, {torch.get_num_threads()} "
          f"threads, {args.repeats} repeats; Raw: {raw.times[-1]:.0f} s -> {n_raw} windows of 4 s")
    print(est["card"].adapter_.filter_plan_.describe(False))
    print(est_raw["card"].adapter_.filter_plan_.describe(True))
    print()
    print("| run | median (ms) |")
    print("|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {1e3 * statistics.median(ts):.1f} |")
    print()
    print(f"adapter / forward: card {100 * ratio('adapter card', 'forward'):.1f} %, "
          f"none {100 * ratio('adapter none', 'forward'):.1f} %")
    print(f"transform time, card / none: windows {ratio('transform card', 'transform none'):.3f}, "
          f"Raw {ratio('raw card', 'raw none'):.3f}")
    print(f"transform card / raw forward (windows): {ratio('transform card', 'forward'):.3f}")


if __name__ == "__main__":
    main()
