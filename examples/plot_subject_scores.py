"""
Scores per held-out subject
===========================

A leave-one-subject-out benchmark on EEGMAT gives one score per model,
strategy, fold (held-out subject) and seed. Averages hide the spread between
subjects; :func:`eegfm_sklearn.viz.plot_subject_scores` draws each subject's
score, averaged over seeds, with the chance level.

:func:`eegfm_sklearn.benchmark` runs every model, strategy and baseline on the
same windows and folds. Here: a linear probe on a tiny LaBraM with random
weights against the log band-power and tangent-space baselines, three
subjects, two seeds, so the example runs in seconds. Pass
``weights={"labram": "labram-base"}`` for the pretrained encoder.
"""

# %%
# Three subjects, two seeds
# -------------------------
from eegfm_sklearn import benchmark, get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.viz import plot_subject_scores

try:
    data = load_eegmat(subjects=range(3), window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
results = benchmark(
    "labram", data, strategies=("linear",), cv="loso", n_seeds=2,
    model_params={"labram": {"model_kwargs": dict(get_model_card("labram").tiny_kwargs)}},
)
print(results.groupby(["model", "strategy"])["score"].agg(["mean", "std"]).round(3))

# %%
# Per-subject scores
# ------------------
# Two balanced classes: chance is 0.5.
fig = plot_subject_scores(results, chance=0.5)
