"""EEG->MEG benchmark: both network modes against lagged and reduced-rank ridge, in one run.

Run from the project root::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice python benchmarks/bench_eeg2meg.py [--smoke]

Data (every model sees the same windows of ``N_TIMES`` samples):

1. Simulated (``simulate_paired_windows``, MNE forward model of the sample
   subject's sensors): train on recordings of some source configurations
   (``subject`` = where the dipoles are and what they do), test on new
   recordings of those configurations *and* on configurations never seen.
2. Real simultaneous EEG+MEG in ``eeg_meg/``: ``test-ave.fif.gz`` (train on
   three evoked conditions, test on the fourth), ``neuromag306_raw_v7.mat``
   (train on the first 4 s, test on the last 1 s),
   ``sample_audvis_trunc_raw_sss.fif`` (train on the first 2/3 s, test on the
   rest).

3. The learnability ladder (``eeg2meg.ladder``): real EEGMAT EEG (19 channels,
   100 Hz, 1 s windows; train on subject 0, test on subject 1) and a
   noiseless 20-channel target, an instantaneous (a) or 5-tap FIR (b) mix.

Models: ridge (instantaneous), lagged ridge, reduced-rank lagged ridge (rank
by cross-validation), the continuous transformer with its lagged-ridge skip
path, the same network without the skip (``linear_skip=False``: nothing
starts from a ridge solution), and the token mode (Brainformer design,
one-pass prediction from the EEG, expected-value decoding). On the ladder:
ridge, lagged ridge and the two networks in ``ladder.LADDER_CONFIGS``.

Rung (c), the simulated set, under a clean protocol: the two networks without
a ridge path train with ``early_stopping`` on a validation block made of the
last sixth of every training recording (moved to the end of their windows;
the other models see the same windows in recording order), with
hyper-parameters chosen on that block (``budgets``: ``pure``, ``tokens_sim``;
the candidates are in the guide), one row per seed (0, 1, 2; ``--seeds`` for others). The token
mode trains on soft ordinal targets (``target_sigma=2``, chosen on that block).

Prints one Markdown table: R^2 and Pearson r (all / magnetometers /
gradiometers, means over channels), the token model's held-out cross-entropy
(nats per token), training CPU and wall time, CPU seconds per epoch per 1000
training windows and inference windows per CPU second and per wall second
(one torch thread unless ``--threads``), and the load average at the start and end (wall numbers
measure the other jobs too when the load exceeds the core count). ``--smoke``
is the smallest setting (seconds), run by the test suite; its numbers mean
nothing.
"""

from __future__ import annotations

import argparse
import os
import time

import mne
import numpy as np
import torch

from eegfm_sklearn.eeg2meg import (
    EEGToMEGRegressor,
    eeg2meg_metrics,
    paired_windows,
    simulate_paired_windows,
)
from eegfm_sklearn.eeg2meg.baselines import ReducedRankRidgeEEGToMEG, RidgeEEGToMEG
from eegfm_sklearn.eeg2meg.ladder import LADDER_CONFIGS, ladder_data
from eegfm_sklearn.utils._data_dir import get_data_dir

N_TIMES = 32  # samples per window: the token model's sequence length (the reference trains on 64)
PATIENCE = 6  # early stopping's n_iter_no_change (epochs) in rung (c)'s protocol
# Times are CPU seconds of this process (one torch thread unless --threads): on a shared machine
# wall-clock time measures the other jobs, CPU time measures the model.
HEADER = ("| data | test | model | R2 all | r all | R2 mag | r mag | R2 grad | r grad | CE tokens | fit CPU s "
          "| fit wall s | epoch CPU s / 1000 win | predict win / CPU s | predict win / wall s |")


def budgets(smoke):
    """Network sizes and epochs: small enough for a shared CPU (see docs/guide/eeg2meg.md).

    ``pure`` and ``tokens_sim`` are rung (c)'s clean protocol (the simulated set): hyper-parameters
    chosen on a validation block cut from the training recordings (the guide lists the candidates),
    early stopping on that block, never the test recordings.
    """
    if smoke:
        net = dict(d_model=8, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, n_routers=2, d_ff=16)
        small = {**net, "max_epochs": 1, "batch_size": 8}
        stop = dict(early_stopping=True, n_iter_no_change=1)
        return dict(continuous={**small, "seg_len": 8, "skip_lags": 2}, tokens=small,
                    pure={**small, "seg_len": 8, "drop_path": 0.5, **stop},
                    tokens_sim={**small, "target_sigma": 2.0, **stop},
                    lags=2, ranks=2, max_windows=6, seeds=(0,))
    net = dict(d_model=32, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, n_routers=4, d_ff=64)
    stop = dict(early_stopping=True, n_iter_no_change=PATIENCE)
    return dict(continuous={**net, "seg_len": 8, "skip_lags": 6, "max_epochs": 20, "batch_size": 16, "lr": 1e-3},
                tokens={**net, "n_routers": 4, "max_epochs": 5, "batch_size": 8, "lr": 3e-3},
                # drop_path (stochastic depth) instead of dropout: chosen on the validation block among the
                # configurations whose fit takes at most 5 minutes on 2 cores (the guide, round five)
                pure={**net, "seg_len": 8, "patch_context": 8, "max_epochs": 40, "batch_size": 16, "lr": 1e-2,
                      "dropout": 0.0, "drop_path": 0.5, "weight_decay": 0.1, **stop, "n_iter_no_change": 10},
                # target_sigma: the soft ordinal target, chosen on the validation block (seed 0; the guide)
                tokens_sim={**net, "max_epochs": 10, "batch_size": 8, "lr": 1e-2, "target_sigma": 2.0, **stop},
                lags=6, ranks=(5, 10, 20, 40, 80, 160), max_windows=None, seeds=(0, 1, 2))


def models(b, token_epochs=None):
    tok = b["tokens"] if token_epochs is None else {**b["tokens"], "max_epochs": token_epochs}
    lags = b["lags"]
    return {
        "ridge, instantaneous": RidgeEEGToMEG(n_lags=0),
        f"ridge, lags +-{lags}": RidgeEEGToMEG(n_lags=lags),
        f"reduced-rank ridge, lags +-{lags}": ReducedRankRidgeEEGToMEG(rank=b["ranks"], n_lags=lags),
        "continuous (ridge skip)": EEGToMEGRegressor(mode="continuous", random_state=0, **b["continuous"]),
        "continuous, pure (no skip)": EEGToMEGRegressor(
            mode="continuous", random_state=0, **{**b["continuous"], "linear_skip": False}),
        "tokens (Brainformer)": EEGToMEGRegressor(mode="tokens", random_state=0, **tok),
    }


def sim_models(b, validation_fraction):
    """Rung (c): the baselines, the network with its ridge skip, and the two networks without any
    ridge-initialised path under the clean protocol, one row per seed."""
    out = {k: v for k, v in models(b).items() if k.startswith(("ridge", "reduced", "continuous (ridge"))}
    for seed in b["seeds"]:
        out[f"continuous, pure (no skip), seed {seed}"] = EEGToMEGRegressor(
            mode="continuous", linear_skip=False, random_state=seed, validation_fraction=validation_fraction,
            **b["pure"])
    for seed in b["seeds"]:
        out[f"tokens (Brainformer), seed {seed}"] = EEGToMEGRegressor(
            mode="tokens", random_state=seed, validation_fraction=validation_fraction, **b["tokens_sim"])
    return out


def ladder_models(smoke):
    """The ladder's models: baselines and the two networks without any ridge-initialised path."""
    nets = {mode: dict(cfg) for mode, cfg in LADDER_CONFIGS.items()}
    lags = 2 if smoke else 6
    if smoke:
        for cfg in nets.values():
            cfg.update(max_epochs=1, d_model=8, n_heads=2)
    return {
        "ridge, instantaneous": RidgeEEGToMEG(n_lags=0),
        f"ridge, lags +-{lags}": RidgeEEGToMEG(n_lags=lags),
        "continuous, no skip": EEGToMEGRegressor(random_state=0, **nets["continuous"]),
        "tokens": EEGToMEGRegressor(random_state=0, **nets["tokens"]),
    }


def fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def evaluate(name, train, tests, types, b, token_epochs=None, candidates=None, ordered=None):
    """Fit every model on ``train`` = (X, Y); score it on each ``(test name, X, Y)``.

    ``ordered`` = (X, Y): the same windows in the order the early-stopping networks take (their
    validation block last); the other models keep ``train``'s order.
    """
    cap = slice(b["max_windows"])  # --smoke: a few windows only
    train = (train[0][cap], train[1][cap])
    ordered = train if ordered is None else (ordered[0][cap], ordered[1][cap])
    tests = [(t, X[cap], Y[cap]) for t, X, Y in tests]
    for model_name, est in (candidates or models(b, token_epochs)).items():
        if b.get("only_models") and not any(m in model_name for m in b["only_models"]):
            continue
        t0, w0 = time.process_time(), time.perf_counter()
        est.fit(*(ordered if getattr(est, "early_stopping", False) else train))
        fit_s, fit_wall = time.process_time() - t0, time.perf_counter() - w0
        epochs = len(est.history_) if getattr(est, "history_", None) is not None else None
        epoch_cost = fit_s / epochs * 1000 / len(train[0]) if epochs else "-"
        for test_name, Xte, Yte in tests:
            t0, w0 = time.process_time(), time.perf_counter()
            pred = est.predict(Xte)
            wps = len(Xte) / max(time.process_time() - t0, 1e-6)
            wps_wall = len(Xte) / max(time.perf_counter() - w0, 1e-6)
            s = eeg2meg_metrics(Yte, pred, types)["summary"]
            ce = est.token_cross_entropy(Xte, Yte) if getattr(est, "mode", None) == "tokens" else "-"
            none = {"r2": "-", "r": "-"}  # a channel type absent from the data (the ladder has one)
            mag, grad = s.get("mag", none), s.get("grad", none)
            row = (name, test_name, model_name, s["all"]["r2"], s["all"]["r"], mag["r2"], mag["r"],
                   grad["r2"], grad["r"], ce, fit_s, fit_wall, epoch_cost, wps, wps_wall)
            print("| " + " | ".join(fmt(v) for v in row) + " |", flush=True)


def simulated(b, smoke):
    sfreq = 100.0
    train_s, test_s = (4, 2) if smoke else (20, 10)
    train_subjects, new_subjects = ((0,), (10,)) if smoke else ((0, 1, 2), (10, 11))

    def windows(subject, seed, seconds):
        n = int(seconds * sfreq) // N_TIMES
        return simulate_paired_windows(n_windows=n, n_times=N_TIMES, sfreq=sfreq, seed=seed, subject=subject)

    def stack(ws):
        X, Y = np.concatenate([w.X for w in ws]), np.concatenate([w.Y for w in ws])
        return X.astype(np.float64), Y.astype(np.float64)

    # recordings r = 0, 1, ... of each configuration (seed r; the test recordings are seed 100)
    tr = [windows(s, r, train_s) for r in range(b.get("train_recordings", 1)) for s in train_subjects]
    seen = stack([windows(s, 100, test_s) for s in train_subjects])
    unseen = stack([windows(s, 0, test_s) for s in new_subjects])
    n_rec = len(tr) // len(train_subjects)
    name = f"sim, configs {list(train_subjects)} x {f'{n_rec} x ' if n_rec > 1 else ''}{train_s} s"
    tests = [("new recordings, same configs", *seen), (f"configs {list(new_subjects)}", *unseen)]
    # The early-stopping networks validate on the last sixth of every training recording (its end),
    # moved to the end of their windows; the baselines see the same windows in recording order.
    k = max(1, len(tr[0].X) // 6)
    ordered = stack([_Cut(w.X[:-k], w.Y[:-k]) for w in tr] + [_Cut(w.X[-k:], w.Y[-k:]) for w in tr])
    fraction = (k * len(tr) - 0.5) / len(ordered[0])  # ceil(fraction * n) = the k * len(tr) windows
    print(f"rung (c) protocol: validation block = the last {k} windows of each of the {len(tr)} training "
          f"recordings ({k * len(tr)} of {len(ordered[0])}); network seeds {list(b['seeds'])}", flush=True)
    evaluate(name, stack(tr), tests, tr[0].meg_ch_types, b, candidates=sim_models(b, fraction), ordered=ordered)


class _Cut:
    """Windows with ``X`` and ``Y``, as ``stack`` reads them."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y


def real(b, smoke):
    folder = get_data_dir() / "eeg_meg"
    evokeds = mne.read_evokeds(folder / "test-ave.fif.gz", verbose=False)
    k = 0  # hold out the first condition
    train = paired_windows([e for i, e in enumerate(evokeds) if i != k], n_times=N_TIMES, step=N_TIMES // 2)
    test = paired_windows(evokeds[k], n_times=N_TIMES, step=N_TIMES)
    evaluate("test-ave (evoked, 600 Hz)", (train.X, train.Y), [(f"held-out '{evokeds[k].comment}'", test.X, test.Y)],
             train.meg_ch_types, b)

    ft = mne.io.read_raw_fieldtrip(folder / "neuromag306_raw_v7.mat", info=None)
    cut = int(4 * ft.info["sfreq"])
    train = paired_windows(ft.copy().crop(tmax=(cut - 1) / ft.info["sfreq"]), n_times=N_TIMES, step=N_TIMES // 2)
    test = paired_windows(ft.copy().crop(tmin=cut / ft.info["sfreq"]), n_times=N_TIMES, step=N_TIMES)
    evaluate("fieldtrip raw (300 Hz)", (train.X, train.Y), [("last 1 s", test.X, test.Y)], train.meg_ch_types, b)

    raw = mne.io.read_raw_fif(folder / "sample_audvis_trunc_raw_sss.fif", preload=True, verbose=False)
    cut = 200
    train = paired_windows(raw.copy().crop(tmax=(cut - 1) / raw.info["sfreq"]), n_times=N_TIMES, step=N_TIMES // 4)
    test = paired_windows(raw.copy().crop(tmin=cut / raw.info["sfreq"]), n_times=N_TIMES, step=N_TIMES)
    # 22 training windows: more token epochs for about as many steps as the other real sets.
    evaluate("sss raw (300 Hz)", (train.X, train.Y), [("last 1/3 s", test.X, test.Y)], train.meg_ch_types, b,
             token_epochs=None if smoke else 15)


def ladder(b, smoke):
    for kind, label in (("instant", "ladder (a): instantaneous mix"), ("fir", "ladder (b): 5-tap FIR mix")):
        Xtr, Ytr, Xte, Yte = ladder_data(kind, n_train=6 if smoke else 120, n_test=3 if smoke else 40)
        types = np.array(["mag"] * Ytr.shape[1])  # one channel type: "mag" columns = "all", "grad" ones "-"
        evaluate(label, (Xtr, Ytr), [("EEGMAT subject 1", Xte, Yte)], types, b, candidates=ladder_models(smoke))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sim", "real", "ladder"], default=None)
    parser.add_argument("--smoke", action="store_true", help="smallest setting, runs in seconds")
    parser.add_argument("--train-recordings", type=int, default=1,
                        help="rung (c): training recordings of 20 s per configuration (default 1)")
    parser.add_argument("--pure-max-epochs", type=int, default=None,
                        help="rung (c): the network without skip's epoch cap (default 40)")
    parser.add_argument("--tokens-max-epochs", type=int, default=None,
                        help="rung (c): the token mode's epoch cap (default 10)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1); the issue's budget is a fit of 5 minutes on 2 cores: "
                             "`--threads 2` on an otherwise idle machine measures that in wall time")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="rung (c)'s network seeds (default 0 1 2)")
    parser.add_argument("--model", action="append", default=None,
                        help="run only the models whose name contains this (repeat for several), e.g. to "
                             "split a run over processes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b = {**budgets(args.smoke), "only_models": args.model, "train_recordings": args.train_recordings}
    if args.pure_max_epochs:
        b["pure"] = {**b["pure"], "max_epochs": args.pure_max_epochs}
    if args.tokens_max_epochs:
        b["tokens_sim"] = {**b["tokens_sim"], "max_epochs": args.tokens_max_epochs}
    if args.seeds:
        b["seeds"] = tuple(args.seeds)
    print(f"torch threads: {torch.get_num_threads()}; load average at start (1, 5, 15 min): {os.getloadavg()}")
    print(HEADER)
    print("|---" * HEADER.count(" | ") + "|---|")
    t0, c0 = time.perf_counter(), time.process_time()
    if args.only in (None, "sim"):
        simulated(b, args.smoke)
    if args.only in (None, "real"):
        real(b, args.smoke)
    if args.only in (None, "ladder"):
        ladder(b, args.smoke)
    print(f"\ntotal: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; "
          f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
