"""Foundation models vs classical baselines on the same windows and folds.

:func:`benchmark` scores every model under every fine-tuning strategy, and
two classical baselines, on one set of cross-validation folds, one row per
(model, strategy, seed, fold). Each row is also written to ``results_dir``
as a small JSON file, so an interrupted run resumes where it stopped, and
rows run in parallel through joblib.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .utils.hashing import sha256_array

# scikit-learn is imported inside the functions: the command line's parser reads this module's names
COLUMNS = ("model", "strategy", "seed", "fold", "test_group", "n_train", "n_test", "metric", "score",
           "fit_seconds", "score_seconds")
STRATEGIES = ("linear", "lora", "full")
BASELINES = ("bandpower", "tangent_space")
BASELINE_STRATEGY = "baseline"  # the strategy column of baseline rows
BANDS = ((1, 4), (4, 8), (8, 13), (13, 30), (30, 45))  # Hz: delta, theta, alpha, beta, low gamma
_FILE_VERSION = 1


# -- baselines -----------------------------------------------------------------
def log_band_power(X, sfreq, bands=BANDS):
    """Log mean Welch power per channel and band.

    Parameters
    ----------
    X : ndarray of shape (n_windows, n_chans, n_times)
    sfreq : float
    bands : sequence of (low, high) in Hz
        Bands without a frequency bin at this rate and length are left out.

    Returns
    -------
    features : ndarray of shape (n_windows, n_chans * n_bands)
    """
    from scipy.signal import welch

    X = np.asarray(X, dtype=np.float64)
    freqs, psd = welch(X, fs=sfreq, nperseg=min(X.shape[-1], int(round(sfreq))), axis=-1)
    masks = [(freqs >= lo) & (freqs < hi) for lo, hi in bands]
    masks = [m for m in masks if m.any()]
    if not masks:
        raise ValueError(f"No band of {list(bands)} Hz has a frequency bin in windows of {X.shape[-1]} samples "
                         f"at {sfreq:g} Hz; use longer windows.")
    # a tiny floor keeps a flat (zero) channel finite instead of -inf
    return np.concatenate([np.log(psd[..., m].mean(-1) + 1e-30) for m in masks], axis=1)


def _require_pyriemann():
    try:
        import pyriemann  # noqa: F401
    except ImportError:
        raise ImportError("The 'tangent_space' baseline needs pyRiemann: pip install 'eegfm_sklearn[benchmark]' "
                          "(or pyriemann>=0.6), or leave it out with baselines=('bandpower',).") from None


def make_baseline(name, sfreq, seed):
    """The classical pipeline ``name`` ("bandpower" or "tangent_space")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    lr = LogisticRegression(max_iter=1000, random_state=seed)
    if name == "bandpower":
        return make_pipeline(FunctionTransformer(log_band_power, kw_args={"sfreq": sfreq}), StandardScaler(), lr)
    if name == "tangent_space":
        _require_pyriemann()
        from pyriemann.estimation import Covariances
        from pyriemann.tangentspace import TangentSpace

        return make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"), lr)
    raise ValueError(f"Unknown baseline {name!r}; choose among {BASELINES}.")


# -- foundation models ------------------------------------------------------------
def _split_params(model, params):
    """``params`` of ``model`` -> (frozen-transformer kwargs, fine-tuning kwargs); unknown keys raise."""
    from .estimators import FoundationClassifier, FoundationTransformer

    frozen_keys = set(FoundationTransformer._get_param_names())
    tuned_keys = set(FoundationClassifier._get_param_names())
    unknown = sorted(set(params) - frozen_keys - tuned_keys - {"model"})
    if unknown:
        raise ValueError(f"model_params[{model!r}] has {unknown}, parameters of neither FoundationTransformer "
                         "nor FoundationClassifier.")
    return ({k: v for k, v in params.items() if k in frozen_keys},
            {k: v for k, v in params.items() if k in tuned_keys})


def make_model_estimator(model, strategy, data, seed, weights=None, params=None):
    """The estimator of ``model`` under ``strategy``.

    ``"linear"``: frozen embeddings (:class:`FoundationTransformer`), standardised,
    into a logistic regression. ``"lora"``, ``"full"`` (and ``"partial"``):
    :class:`FoundationClassifier` with ``finetune=strategy``. ``params`` go
    to the estimators that accept them (training params such as
    ``max_epochs`` only to the fine-tuned ones).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .estimators import FoundationClassifier, FoundationTransformer

    frozen, tuned = _split_params(model, dict(params or {}))
    common = {"model": model, "weights": weights, "sfreq": data.sfreq, "ch_names": list(data.ch_names),
              "units": getattr(data, "units", "uV"), "random_state": seed}
    if strategy == "linear":
        return make_pipeline(FoundationTransformer(**{**frozen, **common}), StandardScaler(),
                             LogisticRegression(max_iter=1000, random_state=seed))
    return FoundationClassifier(**{**tuned, **common, "finetune": strategy})


# -- one row -----------------------------------------------------------------
def _row_key(model, strategy, seed, fold):
    return f"{model}__{strategy}__seed{seed}__fold{fold}"


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


def _read_row(path, fingerprint):
    """The row stored at ``path``, or None if absent, damaged or from another configuration."""
    try:
        stored = json.loads(Path(path).read_text())
        row, check = stored["row"], stored["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (not isinstance(row, dict) or set(row) != set(COLUMNS) or check != _digest(row)
            or stored.get("fingerprint") != fingerprint or stored.get("version") != _FILE_VERSION):
        return None
    return row


def _write_row(path, row, fingerprint):
    """Write atomically: a run killed mid-write leaves no half file under the final name."""
    path = Path(path)
    payload = json.dumps({"version": _FILE_VERSION, "fingerprint": fingerprint, "row": row,
                          "sha256": _digest(row)}, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(payload)
    os.replace(tmp, path)


def _make(name, strategy, seed, data, weights, params):
    if strategy == BASELINE_STRATEGY:
        return make_baseline(name, data.sfreq, seed)
    return make_model_estimator(name, strategy, data, seed, weights, params)


def _run_row(key, data, train, test, metric, results_dir, fingerprint, weights=None, params=None):
    """Fit, score and (with ``results_dir``) store one row; reuse a stored valid row."""
    from sklearn.metrics import get_scorer

    path = None if results_dir is None else Path(results_dir) / (_row_key(*key) + ".json")
    if path is not None:
        row = _read_row(path, fingerprint)
        if row is not None:
            return row
    model, strategy, seed, fold = key
    est = _make(model, strategy, seed, data, weights, params)
    scorer = get_scorer(metric)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A window was not provided")
        start = time.perf_counter()
        est.fit(data.X[train], data.y[train])
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        score = float(scorer(est, data.X[test], data.y[test]))
        score_seconds = time.perf_counter() - start
    test_groups = np.unique(data.groups[test]) if data.groups is not None else np.array([])
    row = {"model": model, "strategy": strategy, "seed": int(seed), "fold": int(fold),
           "test_group": ",".join(str(g) for g in test_groups), "n_train": int(len(train)),
           "n_test": int(len(test)), "metric": metric, "score": score, "fit_seconds": fit_seconds,
           "score_seconds": score_seconds}
    if path is not None:
        _write_row(path, row, fingerprint)
    return row


# -- inputs ---------------------------------------------------------------------
def _check_data(data):
    missing = [a for a in ("X", "y", "sfreq", "ch_names") if not hasattr(data, a)]
    if missing:
        raise ValueError(f"data needs attributes X, y, groups, sfreq and ch_names (as load_eegmat returns); "
                         f"it lacks {missing}.")
    X, y = np.asarray(data.X), np.asarray(data.y)
    if X.ndim != 3 or len(X) != len(y):
        raise ValueError(f"data.X must be (n_windows, n_chans, n_times) with one label per window; "
                         f"got X {X.shape}, y {y.shape}.")
    groups = getattr(data, "groups", None)
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"data.groups has {len(groups)} entries for {len(y)} windows.")
    return SimpleNamespace(X=X, y=y, groups=groups, sfreq=float(data.sfreq), ch_names=list(data.ch_names),
                           units=getattr(data, "units", "uV"))


def _folds(cv, data):
    from sklearn.model_selection import LeaveOneGroupOut

    if isinstance(cv, str):
        if cv != "loso":
            raise ValueError(f"cv={cv!r}: pass 'loso' (leave one group out) or a scikit-learn splitter.")
        cv = LeaveOneGroupOut()
    if not hasattr(cv, "split"):
        raise ValueError(f"cv must be 'loso' or a scikit-learn splitter (with .split); got {cv!r}.")
    if isinstance(cv, LeaveOneGroupOut) and data.groups is None:
        raise ValueError("cv='loso' needs data.groups (the subject of each window).")
    return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(data.X, data.y, data.groups)]


def _as_tuple(value, name):
    if value is None:
        return ()
    values = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must be names (str); got {value!r}.")
    return values


# -- the function ------------------------------------------------------------------
def benchmark(models, data, strategies=STRATEGIES, *, cv="loso", n_seeds=1, baselines=BASELINES, weights=None,
              model_params=None, metric="balanced_accuracy", results_dir=None, n_jobs=1, verbose=0):
    """Score foundation models and classical baselines on the same windows and folds.

    Every model is run under every strategy, and every baseline once, on
    the folds of ``cv`` (computed once), for seeds ``0 .. n_seeds - 1``
    (weight initialisation, training, logistic regression).

    Parameters
    ----------
    models : str or sequence of str
        Registered model names (``list_models()``); may be empty for
        baselines only.
    data : object with ``X``, ``y``, ``groups``, ``sfreq``, ``ch_names``
        E.g. :func:`eegfm_sklearn.datasets.load_eegmat`'s result: ``X`` of
        shape (n_windows, n_chans, n_times) in ``data.units`` (µV if
        absent), ``y`` labels and ``groups`` (subjects) of shape (n_windows,).
    strategies : sequence of {"linear", "lora", "full", "partial"}
        ``"linear"``: frozen embeddings + standardisation + logistic
        regression; the others fine-tune (``FoundationClassifier(finetune=...)``).
    cv : "loso" or scikit-learn splitter, default="loso"
        ``"loso"`` is ``LeaveOneGroupOut`` over ``data.groups``; a splitter
        gets ``split(X, y, groups)``.
    n_seeds : int, default=1
        Seeds ``0 .. n_seeds - 1``, one row per fold and seed.
    baselines : sequence of {"bandpower", "tangent_space"}
        ``"bandpower"``: log Welch band power (1-4-8-13-30-45 Hz) per
        channel, standardised, + logistic regression. ``"tangent_space"``:
        OAS covariances + pyRiemann tangent space + logistic regression
        (needs ``pip install 'eegfm_sklearn[benchmark]'``).
    weights : dict or None
        ``{model: weights}`` (any ``weights=`` value); random weights for
        models not named.
    model_params : dict or None
        ``{model: {param: value}}``: estimator params per model (e.g.
        ``model_kwargs`` of a tiny architecture, ``max_epochs``,
        ``batch_size``, ``device``, ``cache``). Each goes to the estimators
        that accept it: training params only to fine-tuned strategies.
    metric : str, default="balanced_accuracy"
        A scikit-learn scorer name.
    results_dir : str or Path or None
        Folder keeping one JSON file per row. A rerun reuses the valid rows
        of the same configuration and computes only the others; a
        damaged file, or one written for other data, folds or params, is
        recomputed and overwritten.
    n_jobs : int, default=1
        Rows computed in parallel (joblib).
    verbose : int, default=0
        Verbosity of joblib's progress messages.

    Returns
    -------
    results : pandas.DataFrame
        One row per (model or baseline, strategy, seed, fold), columns
        ``model, strategy, seed, fold, test_group, n_train, n_test, metric,
        score, fit_seconds, score_seconds``. Baselines have strategy
        ``"baseline"``; ``test_group`` is the held-out group, or the held-out
        groups joined by ",".
    """
    import pandas as pd
    from joblib import Parallel, delayed
    from sklearn.metrics import get_scorer

    from .cards import get_model_card
    from .finetune import METHODS

    models = tuple(get_model_card(m).name for m in _as_tuple(models, "models"))
    strategies = _as_tuple(strategies, "strategies")
    baselines = _as_tuple(baselines, "baselines")
    for s in strategies:
        if s not in METHODS:
            raise ValueError(f"Unknown strategy {s!r}; choose among {METHODS}.")
    for b in baselines:
        if b not in BASELINES:
            raise ValueError(f"Unknown baseline {b!r}; choose among {BASELINES}.")
    if not baselines and not (models and strategies):
        raise ValueError("Nothing to score: give models and strategies, or baselines.")
    if "tangent_space" in baselines:
        _require_pyriemann()
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an int >= 1; got {n_seeds!r}.")
    weights = {k.lower(): v for k, v in dict(weights or {}).items()}
    model_params = {k.lower(): v for k, v in dict(model_params or {}).items()}
    for name in (set(weights) | set(model_params)) - set(models):
        raise ValueError(f"weights / model_params name {name!r}, which is not in models={list(models)}.")
    for model in models:
        _split_params(model, dict(model_params.get(model, {})))
    if metric is None or not isinstance(metric, str):
        raise ValueError(f"metric must be a scikit-learn scorer name; got {metric!r}.")
    try:
        get_scorer(metric)  # before any work
    except ValueError:
        raise ValueError(f"metric={metric!r} is not a scikit-learn scorer name (see "
                         "sklearn.metrics.get_scorer_names()).") from None
    data = _check_data(data)
    folds = _folds(cv, data)
    if results_dir is not None:
        Path(results_dir).mkdir(parents=True, exist_ok=True)
    data_hash = sha256_array(data.X)  # read in place: a copy of the data set only to hash it
    base = {"data": data_hash, "y": data.y.tolist(), "sfreq": data.sfreq, "ch_names": data.ch_names,
            "units": data.units, "metric": metric}

    jobs = []
    for seed in range(int(n_seeds)):
        units = [(name, BASELINE_STRATEGY, None, None) for name in baselines]
        units += [(m, s, weights.get(m), model_params.get(m, {})) for m in models for s in strategies]
        for name, strategy, w, params in units:
            config = {"weights": w, "params": params}
            for fold, (train, test) in enumerate(folds):
                fingerprint = _digest({**base, **config, "train": train.tolist(), "test": test.tolist()})
                jobs.append(delayed(_run_row)((name, strategy, seed, fold), data, train, test, metric,
                                              results_dir, fingerprint, w, params))
    rows = Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)
    return pd.DataFrame(rows, columns=list(COLUMNS))
