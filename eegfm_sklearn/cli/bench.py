"""``eegfm benchmark``: a thin layer over :func:`eegfm_sklearn.benchmark`.

Prints the mean score per model and strategy, and writes every row as CSV
and the summary as a Markdown table.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from .embed import add_model_options, model_kwargs


def _cv(text):
    if text == "loso":
        return text
    if text.isdigit() and int(text) >= 2:
        return int(text)
    raise argparse.ArgumentTypeError("use 'loso' (leave one subject out) or a number of folds >= 2")


def add_parser(sub):
    from ..benchmarking import BASELINES, STRATEGIES
    from ..finetune import METHODS

    p = sub.add_parser(
        "benchmark", help="score models and baselines on the same folds",
        description="Score foundation models (each under each strategy) and classical baselines on the same "
                    "windows and cross-validation folds: eegfm_sklearn.benchmark() from the command line. "
                    "--data is a folder holding the EEGMAT EDF files (or a data folder with an eegmat/ "
                    "subfolder), or an .npz file with arrays X (n_windows, n_chans, n_times), y, groups, "
                    "sfreq, ch_names (and optionally units, default uV).")
    p.add_argument("--data", type=Path, required=True, metavar="DIR|NPZ", help="the windows to score")
    p.add_argument("--cv", type=_cv, default="loso", help="'loso' (leave one subject out, default) or N group folds")
    p.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=METHODS,
                   help=f"default: {' '.join(STRATEGIES)}")
    p.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES,
                   help=f"default: {' '.join(BASELINES)}")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1; default 1")
    p.add_argument("--max-epochs", type=int, default=10, help="fine-tuning epochs; default 10")
    p.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: the estimator's)")
    p.add_argument("--window", type=float, default=4.0, help="EEGMAT window length in seconds; default 4")
    p.add_argument("--subjects", type=int, nargs="*", default=None, help="EEGMAT subjects (default: all found)")
    p.add_argument("--metric", default="balanced_accuracy", help="scikit-learn scorer; default balanced_accuracy")
    p.add_argument("--results-dir", type=Path, default=None, help="keep each row here; a rerun resumes")
    p.add_argument("--n-jobs", type=int, default=1, help="rows in parallel (joblib); default 1")
    p.add_argument("-o", "--csv", type=Path, default=None, help="write every row to this CSV file")
    p.add_argument("--markdown", type=Path, default=None, help="write the summary table to this Markdown file")
    add_model_options(p, several=True)
    p.set_defaults(run=run)
    return p


def load_data(path, window_seconds=4.0, subjects=None):
    """The windows of ``--data``: an .npz file, or a folder of EEGMAT recordings."""
    from ..datasets import WindowedRecordings, load_eegmat

    path = Path(path)
    if path.is_file() and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("X", "y", "groups", "sfreq", "ch_names") if k not in f.files]
            if missing:
                raise ValueError(f"{path} lacks arrays {missing} (needs X, y, groups, sfreq, ch_names).")
            units = str(f["units"]) if "units" in f.files else "uV"
            return WindowedRecordings(f["X"], f["y"], f["groups"], float(f["sfreq"]),
                                      [str(c) for c in f["ch_names"]], units)
    if not path.is_dir():
        raise FileNotFoundError(f"--data {path}: no such folder or .npz file.")
    folder = path / "eegmat" if (path / "eegmat").is_dir() else path
    found = sorted(int(m.group(1)) for f in folder.glob("Subject*_1.edf")
                   if (m := re.fullmatch(r"Subject(\d+)_1\.edf", f.name))
                   and (folder / f"Subject{m.group(1)}_2.edf").is_file())
    if not found:
        raise FileNotFoundError(f"--data {path}: no EEGMAT recordings (SubjectNN_1.edf and SubjectNN_2.edf) there "
                                "nor in its eegmat/ subfolder; or pass an .npz file.")
    return load_eegmat(found if subjects is None else subjects, window_seconds=window_seconds,
                       data_dir=folder.parent, download=False)


def summary(df):
    """Mean ± std of the score per model and strategy, and mean seconds per fold, as Markdown."""
    grouped = df.groupby(["model", "strategy"], sort=False)
    lines = [f"| model | strategy | {df['metric'].iloc[0]} (mean ± std) | folds x seeds | fit s / fold |",
             "|---|---|---|---|---|"]
    for (model, strategy), rows in grouped:
        lines.append(f"| {model} | {strategy} | {rows['score'].mean():.3f} ± {rows['score'].std(ddof=0):.3f} "
                     f"| {len(rows)} | {rows['fit_seconds'].mean():.2f} |")
    return "\n".join(lines)


def parse_weights(values, models):
    """``--weights`` values -> ``{model: weights}``."""
    if len(values) == 1 and "=" not in values[0] and len(models) == 1:
        return {models[0]: values[0]}
    out = {}
    for value in values:
        model, sep, weights = value.partition("=")
        if not sep or not weights:
            raise ValueError(f"--weights {value!r}: with several models, give MODEL=WEIGHTS pairs.")
        out[model.lower()] = weights
    return out


def run(args):
    from ..benchmarking import benchmark

    if args.subjects is not None and args.data.suffix == ".npz":
        raise ValueError("--subjects selects EEGMAT subjects; it does not apply to an .npz file.")
    models = [m.lower() for m in args.models]
    weights = parse_weights(args.weights, models)
    params = {"batch_size": args.batch_size, "device": args.device, "max_epochs": args.max_epochs}
    if args.lr is not None:
        params["lr"] = args.lr
    model_params = {m: {**params, "model_kwargs": model_kwargs(m, args.tiny, args.model_kwargs, weights.get(m))}
                    for m in models}
    data = load_data(args.data, args.window, args.subjects)
    cv = args.cv if args.cv == "loso" else _group_folds(args.cv)
    df = benchmark(models, data, tuple(args.strategies), cv=cv, n_seeds=args.seeds, baselines=tuple(args.baselines),
                   weights=weights, model_params=model_params, metric=args.metric, results_dir=args.results_dir,
                   n_jobs=args.n_jobs)
    table = summary(df)
    print(table)
    if args.csv is not None:
        df.to_csv(args.csv, index=False)
        print(f"rows: {args.csv}")
    if args.markdown is not None:
        Path(args.markdown).write_text(table + "\n")
        print(f"summary: {args.markdown}")
    return 0


def _group_folds(n):
    from sklearn.model_selection import GroupKFold

    return GroupKFold(n)
