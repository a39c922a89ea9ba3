"""Fine-tuning epoch time: FoundationClassifier (skorch) vs a hand-written torch loop.

Same module (the card's full-size architecture), same adapted windows, same
batch size, AdamW with the same parameter groups, same threads; one process.
Epoch times come from skorch's history for ours and from a timer around the
loop for the hand-written one; the first epoch of each is a warm-up.
Target: ours <= 1.10x.

    python benchmarks/bench_finetune_epoch.py --models biot labram --epochs 4

``--smoke`` is the smallest setting (tiny architectures, 16 windows, 2 epochs),
run by the test suite; its timings mean nothing.
"""

import argparse
import time

import numpy as np
import torch

from eegfm_sklearn import FoundationClassifier, get_model_card
from eegfm_sklearn import finetune as ft
from eegfm_sklearn.backbone import CardModule
from eegfm_sklearn.datasets import load_eegmat


def hand_loop(est, Xt, y, epochs, batch_size, lr, weight_decay, seed):
    torch.manual_seed(seed)
    template = est.module_
    module = CardModule(template.card, template.build_args, template.slot_names, "logits").train()
    optimizer = torch.optim.AdamW(ft.param_groups(module, lr, weight_decay), lr=lr)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(Xt), torch.from_numpy(y)),
        batch_size=batch_size, shuffle=True)
    loss_fn, times = torch.nn.CrossEntropyLoss(), []
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(module(xb), yb)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def tiny_kwargs(model):
    return dict(get_model_card(model).tiny_kwargs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["biot", "labram"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-windows", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="each card's tiny architecture")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, 16 windows, batch 8, 2 epochs")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.n_windows, args.batch_size, args.epochs = True, 16, 8, 2
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch of each is a warm-up.")
    torch.set_num_threads(args.threads)
    data = load_eegmat(range(4), window_seconds=4.0)
    idx = np.random.default_rng(0).permutation(len(data.X))[: args.n_windows]
    X, y = data.X[idx], data.y[idx]
    lr, wd = 1e-4, 0.01
    size = "tiny" if args.tiny else "full-size"
    print(f"{size} models, {args.n_windows} windows, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.threads} threads")
    print(f"{'model':8s} {'ours s/epoch':>12s} {'hand s/epoch':>12s} {'ratio':>7s}")
    for model in args.models:
        est = FoundationClassifier(model, sfreq=data.sfreq, ch_names=data.ch_names, max_epochs=args.epochs,
                                   lr=lr, weight_decay=wd, batch_size=args.batch_size, random_state=0,
                                   model_kwargs=tiny_kwargs(model) if args.tiny else None)
        est.fit(X, y)
        ours = [row["dur"] for row in est.history_][1:]
        Xt = est.adapter_.transform(X)
        y_int = np.searchsorted(est.classes_, y).astype(np.int64)
        hand = hand_loop(est, Xt, y_int, args.epochs, args.batch_size, lr, wd, 0)[1:]
        o, h = float(np.median(ours)), float(np.median(hand))
        print(f"{model:8s} {o:12.3f} {h:12.3f} {o / h:7.3f}")


if __name__ == "__main__":
    main()
