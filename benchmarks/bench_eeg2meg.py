"""EEG->MEG benchmark: transformer vs instantaneous and lagged ridge.

Run from the project root::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_eeg2meg.py [--quick]

1. Simulated (``simulate_paired_windows``, subject 0): train on recordings
   with seeds 0..k-1, test on held-out seeds; all 306 MEG channels.
2. Real snippets in ``eeg_meg/``: test-ave.fif.gz (leave one evoked condition
   out), neuromag306_raw_v7.mat (train on the first 4 s, test on the last 1 s),
   sample_audvis_trunc_raw_sss.fif (train on the first 2/3 s, test on the rest).

Prints a Markdown table (R^2 and Pearson r, all / mag / grad), training time
and inference windows/s. ``--smoke`` is the smallest setting (a few windows,
a small transformer, one epoch), run by the test suite; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import time

import mne
import numpy as np
import torch

from eegfm_sklearn._data_dir import get_data_dir
from eegfm_sklearn.eeg2meg import (
    EEGToMEGRegressor,
    RidgeEEGToMEG,
    eeg2meg_metrics,
    paired_windows,
    simulate_paired_windows,
)


def models(transformer_kw):
    return {
        "ridge (instantaneous)": RidgeEEGToMEG(n_lags=0),
        "ridge (lags +-6, step 2)": RidgeEEGToMEG(n_lags=3, lag_step=2),
        "ridge (lags +-6, step 1)": RidgeEEGToMEG(n_lags=6),
        "transformer": EEGToMEGRegressor(random_state=0, **transformer_kw),
        "transformer, no linear skip": EEGToMEGRegressor(
            random_state=0, **{**transformer_kw, "linear_skip": False}
        ),
    }


def evaluate(name, Xtr, Ytr, Xte, Yte, types, transformer_kw, rows, skip=()):
    for model_name, est in models(transformer_kw).items():
        if model_name in skip:
            continue
        t0 = time.perf_counter()
        est.fit(Xtr, Ytr)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = est.predict(Xte)
        wps = len(Xte) / (time.perf_counter() - t0)
        s = eeg2meg_metrics(Yte, pred, types)["summary"]
        row = (name, model_name, s["all"]["r2"], s["all"]["r"], s["mag"]["r2"], s["mag"]["r"],
               s["grad"]["r2"], s["grad"]["r"], fit_s, wps)
        rows.append(row)
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |",
              flush=True)


def simulated(rows, quick, smoke=False):
    n_train_rec, n_test_rec = (2, 1) if quick or smoke else (6, 2)
    kw = dict(n_windows=10 if smoke else 100, n_times=100, sfreq=100.0)  # 100 s per recording
    tr = [simulate_paired_windows(seed=s, **kw) for s in range(n_train_rec)]
    te = [simulate_paired_windows(seed=100 + s, **kw) for s in range(n_test_rec)]
    Xtr, Ytr = np.concatenate([w.X for w in tr]), np.concatenate([w.Y for w in tr])
    Xte, Yte = np.concatenate([w.X for w in te]), np.concatenate([w.Y for w in te])
    tkw = dict(d_model=32, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, seg_len=10,
               skip_lags=6, max_epochs=1 if smoke else 2 if quick else 5, batch_size=16, lr=1e-3)
    if smoke:
        tkw.update(d_model=16, n_heads=2)
    seconds = kw["n_windows"] * kw["n_times"] / kw["sfreq"]
    name = f"sim: {n_train_rec * seconds:g} s train, {n_test_rec * seconds:g} s held-out seeds"
    evaluate(name, Xtr, Ytr, Xte, Yte, tr[0].meg_ch_types, tkw, rows)


def real(rows, quick, smoke=False):
    folder = get_data_dir() / "eeg_meg"
    tkw = dict(d_model=32, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, seg_len=10,
               skip_lags=6, max_epochs=1 if smoke else 10 if quick else 30, batch_size=8, lr=1e-3)
    if smoke:
        tkw.update(d_model=16, n_heads=2)
    evokeds = mne.read_evokeds(folder / "test-ave.fif.gz", verbose=False)
    for k in ([0] if quick or smoke else range(4)):
        train = paired_windows([e for i, e in enumerate(evokeds) if i != k], n_times=120, step=30)
        test = paired_windows(evokeds[k], n_times=120, step=120)
        evaluate(f"test-ave, held-out '{evokeds[k].comment}'", train.X, train.Y, test.X, test.Y,
                 train.meg_ch_types, tkw, rows)
    ft = mne.io.read_raw_fieldtrip(folder / "neuromag306_raw_v7.mat", info=None)
    cut = int(4 * ft.info["sfreq"])
    train = paired_windows(ft.copy().crop(tmax=(cut - 1) / ft.info["sfreq"]), n_times=60, step=15)
    test = paired_windows(ft.copy().crop(tmin=cut / ft.info["sfreq"]), n_times=60, step=60)
    evaluate("fieldtrip raw, last 1 s held out", train.X, train.Y, test.X, test.Y,
             train.meg_ch_types, tkw, rows)
    raw = mne.io.read_raw_fif(folder / "sample_audvis_trunc_raw_sss.fif", preload=True, verbose=False)
    cut = 200
    train = paired_windows(raw.copy().crop(tmax=(cut - 1) / raw.info["sfreq"]), n_times=40, step=10)
    test = paired_windows(raw.copy().crop(tmin=cut / raw.info["sfreq"]), n_times=40, step=40)
    evaluate("sss raw, last 1/3 s held out", train.X, train.Y, test.X, test.Y,
             train.meg_ch_types, {**tkw, "skip_lags": 3, "seg_len": 8}, rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller data / fewer epochs")
    parser.add_argument("--only", choices=["sim", "real"], default=None)
    parser.add_argument("--smoke", action="store_true", help="smallest setting, runs in seconds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| data | model | R2 all | r all | R2 mag | r mag | R2 grad | r grad | fit s | predict win/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    if args.only in (None, "sim"):
        simulated(rows, args.quick, args.smoke)
    if args.only in (None, "real"):
        real(rows, args.quick, args.smoke)


if __name__ == "__main__":
    main()
