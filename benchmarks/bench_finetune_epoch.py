"""Fine-tuning epoch time: FoundationClassifier (skorch) vs a hand-written torch loop, every model.

Same module (the card's full-size architecture), same adapted windows, same
batch size, AdamW with the same parameter groups, same threads; one process.
The two loops alternate epoch by epoch (a skorch callback runs one
hand-written epoch after each of ours, on the very arrays skorch trains on),
so both see the same machine load. Each epoch's wall time and this process's
CPU time (``time.process_time``: on a shared machine the wall time moves with
the other tenants' load, the CPU time less) are recorded; the first epoch of
each is a warm-up.
Target: ours <= 1.10x.

    python benchmarks/bench_finetune_epoch.py --threads 1 --epochs 3
    python benchmarks/bench_finetune_epoch.py --models biot labram --n-windows 128

By default each model trains on ``--n-windows`` windows (64), except the
models whose full-size epoch on one CPU thread would take minutes, which get
the reduced counts of ``REDUCED_WINDOWS`` (printed in the table); the batch
size is then ``min(--batch-size, windows)``. ``--n-windows`` given explicitly
applies to every model.

``--smoke`` is the smallest setting (tiny architectures, 8 windows, 2 epochs,
BIOT and LaBraM), run by the test suite; its timings mean nothing.
"""

import argparse
import os
import time

import numpy as np
import torch
from skorch.callbacks import Callback

from eegfm_sklearn import FoundationClassifier, get_model_card, list_models
from eegfm_sklearn import finetune as ft
from eegfm_sklearn.backbone import CardModule
from eegfm_sklearn.datasets import load_eegmat

# Full-size models whose epoch of 64 windows takes minutes on one CPU thread of the 2-core box
# (training ~3x the forward of docs/throughput.json): fewer windows, same architecture. ZUNA: 2, as
# 4 windows with both loops' modules held ~14.6 GB (killed for memory on the 23 GB box).
REDUCED_WINDOWS = {"eegpt": 16, "steegformer": 16, "reve": 32, "zuna": 2}


class HandLoop:
    """A plain torch training loop on a fresh copy of a CardModule: AdamW, cross-entropy, shuffled batches."""

    def __init__(self, template, X, y, batch_size, lr, weight_decay, seed):
        torch.manual_seed(seed)
        self.module = CardModule(template.card, template.build_args, template.slot_names, "logits",
                                 slot_positions=template.slot_positions).train()
        self.optimizer = torch.optim.AdamW(ft.param_groups(self.module, lr, weight_decay), lr=lr)
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=batch_size,
            shuffle=True)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(self):
        for xb, yb in self.loader:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.module(xb), yb)
            loss.backward()
            self.optimizer.step()


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = start
    return time.perf_counter() - wall, time.process_time() - cpu


class Interleaved(Callback):
    """Times each of our epochs (wall, process CPU) and runs one hand-written epoch after it, timed apart.

    Interleaving the two loops epoch by epoch exposes both to the same machine load. The hand loop
    trains its own module on the very arrays skorch gets (the adapted windows, the class codes).
    """

    def __init__(self, batch_size, lr, weight_decay):
        self.batch_size, self.lr, self.weight_decay = batch_size, lr, weight_decay

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.hand = HandLoop(net.module_, X, y, self.batch_size, self.lr, self.weight_decay, seed=0)
        self.ours, self.hand_times = [], []

    def on_epoch_begin(self, net, **kwargs):
        self._start = _clock()

    def on_epoch_end(self, net, **kwargs):
        self.ours.append(_since(self._start))
        start = _clock()
        self.hand.epoch()
        self.hand_times.append(_since(start))


def bench_model(model, X, y, sfreq, ch_names, epochs, batch_size, threads, tiny):
    """Median (wall, CPU) seconds per epoch of ours and of the hand-written loop, first epoch left out."""
    lr, wd = 1e-4, 0.01
    clock = Interleaved(batch_size, lr, wd)
    est = FoundationClassifier(model, sfreq=sfreq, ch_names=ch_names, max_epochs=epochs, lr=lr,
                               weight_decay=wd, batch_size=batch_size, random_state=0, n_threads=threads,
                               callbacks=[("interleaved", clock)],
                               model_kwargs=dict(get_model_card(model).tiny_kwargs) if tiny else None)
    est.fit(X, y)
    return np.median(clock.ours[1:], axis=0), np.median(clock.hand_times[1:], axis=0)


def pick(y, n):
    """``n`` random window indices (seed 0); when they hold one class only, the two classes in turn."""
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))[:n]
    if len(np.unique(y[idx])) > 1:
        return idx
    first, second = (rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)[:2])
    return np.stack([first[: n // 2 + 1], second[: n // 2 + 1]], axis=1).ravel()[:n]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=None, help="default: every card")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-windows", type=int, default=None,
                        help="windows per model (default 64, or REDUCED_WINDOWS for the slowest models)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="each card's tiny architecture")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, biot and labram, 8 windows, 2 epochs")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.n_windows, args.batch_size, args.epochs = True, 8, 4, 2
        args.models = args.models or ["biot", "labram"]
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch of each is a warm-up.")
    models = args.models or list_models()
    torch.set_num_threads(args.threads)
    data = load_eegmat(range(4), window_seconds=4.0, download=False)
    size = "tiny" if args.tiny else "full-size"
    print(f"{size} models, EEGMAT windows of 4 s at 500 Hz, {args.epochs} epochs (the first a warm-up), "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.1f} at start")
    print("| model | windows | batch | ours wall s/epoch | hand wall s/epoch | wall ratio "
          "| ours CPU s/epoch | hand CPU s/epoch | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in models:
        n = args.n_windows or REDUCED_WINDOWS.get(model, 64)
        idx = pick(data.y, n)
        batch = min(args.batch_size, n)
        (ow, oc), (hw, hc) = bench_model(model, data.X[idx], data.y[idx], data.sfreq, data.ch_names, args.epochs,
                                         batch, args.threads, args.tiny)
        print(f"| {model} | {n} | {batch} | {ow:.3f} | {hw:.3f} | {ow / hw:.3f} | {oc:.3f} | {hc:.3f} "
              f"| {oc / hc:.3f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
