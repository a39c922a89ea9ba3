"""
Scores per held-out subject
===========================

A leave-one-subject-out benchmark on EEGMAT gives one score per model,
strategy, fold (held-out subject) and seed. Averages hide the spread between
subjects; :func:`eegfm_sklearn.viz.plot_subject_scores` draws each subject's
score, averaged over seeds, with the chance level.

The table has the columns of :func:`eegfm_sklearn.benchmark`'s result
(``model, strategy, seed, fold, test_group, n_train, n_test, metric, score,
fit_seconds, score_seconds``). Here it is built by a small loop (a linear
probe on a tiny LaBraM with random weights, and a log band-power baseline)
so the example runs in seconds; ``benchmark(...)`` returns the same table.
"""

# %%
# Three subjects, two seeds
# -------------------------
import time

import numpy as np
import pandas as pd
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.viz import plot_subject_scores

data = load_eegmat(subjects=range(3), window_seconds=4.0)


def log_band_power(X, sfreq=data.sfreq):
    """Log power in the delta, theta, alpha and beta bands, per channel: (n, n_chans * 4)."""
    freqs, psd = welch(X, fs=sfreq, nperseg=int(sfreq), axis=-1)
    bands = [(1, 4), (4, 8), (8, 13), (13, 30)]
    return np.log(np.stack([psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in bands], -1)).reshape(
        len(X), -1)


def pipelines(seed):
    """(model, strategy) -> pipeline; the seed draws the random weights and the LR's solver state."""
    encoder = FoundationTransformer("labram", model_kwargs=dict(get_model_card("labram").tiny_kwargs),
                                    sfreq=data.sfreq, ch_names=data.ch_names, random_state=seed, cache="memory")
    return {
        ("labram (random weights)", "linear"): make_pipeline(encoder, StandardScaler(),
                                                             LogisticRegression(C=0.1, max_iter=2000)),
        ("log band power + LR", "-"): make_pipeline(FunctionTransformer(log_band_power), StandardScaler(),
                                                    LogisticRegression(max_iter=2000, random_state=seed)),
    }


# %%
# One row per model, strategy, fold and seed
# ------------------------------------------
rows = []
for seed in range(2):
    for (model, strategy), pipe in pipelines(seed).items():
        for fold, (train, test) in enumerate(LeaveOneGroupOut().split(data.X, data.y, data.groups)):
            start = time.perf_counter()
            pipe.fit(data.X[train], data.y[train])
            fitted = time.perf_counter()
            score = balanced_accuracy_score(data.y[test], pipe.predict(data.X[test]))
            rows.append({"model": model, "strategy": strategy, "seed": seed, "fold": fold,
                         "test_group": int(data.groups[test][0]), "n_train": len(train), "n_test": len(test),
                         "metric": "balanced_accuracy", "score": score, "fit_seconds": fitted - start,
                         "score_seconds": time.perf_counter() - fitted})
results = pd.DataFrame(rows)
print(results.groupby(["model", "strategy"])["score"].agg(["mean", "std"]).round(3))

# %%
# Per-subject scores
# ------------------
# Two balanced classes: chance is 0.5.
fig = plot_subject_scores(results, chance=0.5)
