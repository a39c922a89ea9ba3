"""Fine-tuning modes vs classical baselines on EEGMAT, leave-subjects-out.

For each backbone x fine-tuning mode, and for two classical pipelines in
the same run, the balanced accuracy on held-out subjects (GroupKFold,
shuffled by seed), mean +- std over seeds of the per-seed fold mean, and
the wall time per fold (fit + predict).

Examples
--------
Tiny random-init backbones (what fits a 2-core box; the docs table)::

    python benchmarks/bench_finetune.py --tiny --threads 1 --out results.md

The smallest setting, run by the test suite (seconds; the scores mean nothing)::

    python benchmarks/bench_finetune.py --smoke

The same table with pretrained checkpoints, full-size::

    python benchmarks/bench_finetune.py --weights labram=labram-base \\
        biot=biot-prest-16 bendr=bendr --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import torch
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from eegfm_sklearn import FoundationClassifier, get_model_card
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing.resampling import PolyphaseResampler

BANDS = ((1, 4), (4, 8), (8, 13), (13, 30), (30, 45))

# One recipe per mode, the same with or without pretrained weights.
MODES = {
    "linear": {"finetune": "linear", "lr": 1e-3},
    "full": {"finetune": "full", "lr": 3e-4, "layer_decay": 0.75},
    "lora": {"finetune": "lora", "lr": 1e-3, "lora_rank": 8},
}
COMMON = {"lr_schedule": "cosine", "warmup_epochs": 1, "weight_decay": 0.01, "max_grad_norm": 1.0}


def log_band_power(X, sfreq):
    """Log mean Welch power per channel and band, shape (n, n_chans * n_bands)."""
    freqs, psd = welch(X, fs=sfreq, nperseg=int(2 * sfreq), axis=-1)
    return np.concatenate([np.log(psd[..., (freqs >= lo) & (freqs < hi)].mean(-1)) for lo, hi in BANDS], axis=1)


def baselines(sfreq):
    """The classical pipelines, by name."""
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace

    return {
        "log band-power + LogReg": make_pipeline(
            FunctionTransformer(log_band_power, kw_args={"sfreq": sfreq}), StandardScaler(),
            LogisticRegression(max_iter=1000)),
        "Cov + TangentSpace + LogReg": make_pipeline(
            Covariances("oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000)),
    }


def evaluate(make_estimator, X, y, groups, seeds, n_folds):
    """Per-seed mean balanced accuracy, mean seconds per fold, last fitted estimator."""
    scores, seconds, est = [], [], None
    for seed in seeds:
        fold_scores = []
        for train, test in GroupKFold(n_folds, shuffle=True, random_state=seed).split(X, y, groups):
            start = time.perf_counter()
            est = make_estimator(seed).fit(X[train], y[train])
            fold_scores.append(balanced_accuracy_score(y[test], est.predict(X[test])))
            seconds.append(time.perf_counter() - start)
        scores.append(np.mean(fold_scores))
    return np.array(scores), float(np.mean(seconds)), est


def parse_weights(pairs):
    """``["labram=labram-base", ...]`` -> ``{"labram": "labram-base"}``."""
    out = {}
    for pair in pairs or []:
        model, sep, name = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--weights takes MODEL=CHECKPOINT pairs; got {pair!r}.")
        out[model.lower()] = name
    return out


def resample_for(card, data):
    """Windows at the card's rate, done once per model rather than per fold.

    The estimator's adapter would run the same resampler on every fit; here
    it then sees data already at the card's rate.
    """
    if card.sfreq == data.sfreq:
        return data.X
    from fractions import Fraction

    ratio = Fraction(card.sfreq / data.sfreq).limit_denominator(1000)
    return PolyphaseResampler(ratio.numerator, ratio.denominator, data.X.shape[-1])(data.X)


def run(args):
    weights = parse_weights(args.weights)
    if args.tiny and weights:
        raise SystemExit("--tiny builds small architectures that pretrained weights do not fit; drop one.")
    data = load_eegmat(range(args.subjects), window_seconds=4.0)
    seeds = list(range(args.seeds))
    rows = []
    print(f"EEGMAT: {len(data.y)} windows, {len(set(data.groups))} subjects, "
          f"{args.folds}-fold leave-subjects-out, seeds {seeds}", file=sys.stderr)
    for name, pipe in baselines(data.sfreq).items():
        scores, secs, _ = evaluate(lambda seed, p=pipe: p, data.X, data.y, data.groups, seeds, args.folds)
        rows.append(("-", name, "-", "-", scores, secs, None))
        print(f"{name}: {scores.mean():.3f} +- {scores.std():.3f} ({secs:.2f} s/fold)", file=sys.stderr)
    for model in args.models:
        card = get_model_card(model)
        X = resample_for(card, data)
        for mode in args.modes:
            params = {"model": model, "sfreq": card.sfreq, "ch_names": data.ch_names, "weights": weights.get(model),
                      "max_epochs": args.max_epochs, "batch_size": args.batch_size, "device": args.device,
                      **COMMON, **MODES[mode]}
            if args.tiny:
                params["model_kwargs"] = dict(card.tiny_kwargs)

            def make(seed, params=params):
                return FoundationClassifier(random_state=seed, **params)

            scores, secs, est = evaluate(make, X, data.y, data.groups, seeds, args.folds)
            size = "tiny" if args.tiny else "full-size"
            source = weights.get(model, "random init")
            rows.append((model, mode, size, source, scores, secs, est.n_trainable_params_))
            print(f"{model} {mode}: {scores.mean():.3f} +- {scores.std():.3f} ({secs:.1f} s/fold)", file=sys.stderr)
    return rows


def table(rows, args):
    lines = [
        "| Backbone | Method | Architecture | Weights | Balanced accuracy | Wall time / fold (s) | Trainable params |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, method, size, source, scores, secs, n_params in rows:
        lines.append(f"| {model} | {method} | {size} | {source} | {scores.mean():.3f} ± {scores.std():.3f} "
                     f"| {secs:.1f} | {'-' if n_params is None else f'{n_params:,}'} |")
    lines.append("")
    lines.append(f"EEGMAT subjects 0-{args.subjects - 1}, 4 s windows, GroupKFold({args.folds}, shuffled by seed), "
                 f"{args.seeds} seeds (mean ± std of the per-seed fold mean); {args.max_epochs} epochs, batch "
                 f"{args.batch_size}, cosine schedule with 1 warmup epoch; device {args.device}, "
                 f"{torch.get_num_threads()} torch thread(s).")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["bendr", "biot", "labram"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--weights", nargs="*", metavar="MODEL=CHECKPOINT",
                        help="pretrained weights per model (registry name, hub id or path); default random init")
    parser.add_argument("--tiny", action="store_true", help="use each card's tiny architecture")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, biot, 2 subjects, 2 folds, 1 seed, 1 epoch")
    args = parser.parse_args(argv)
    if args.smoke:
        args.tiny, args.models, args.subjects, args.folds, args.seeds, args.max_epochs = True, ["biot"], 2, 2, 1, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="A window was not provided")
    out = table(run(args), args)
    print(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(out + "\n")


if __name__ == "__main__":
    main()
