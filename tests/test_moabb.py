"""MOABB evaluations of foundation-model pipelines, offline, on FakeDataset.

Each of WithinSession, CrossSession and CrossSubject is run for every model,
once on MOABB's default numpy input (µV; rate and channel names given as
params, the paradigm fixing both) and once with ``return_epochs=True``
(``mne.Epochs`` in V; rate and names read from the object). A pass-through
probe placed first in every pipeline records what MOABB hands our estimators
(input type, units, trial counts, labels), so the tests check the plumbing
and not only that a score came out.

Everything MOABB or mne writes goes to pytest's tmp_path.
"""

from __future__ import annotations

import os
import tempfile

import mne
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from eegfm_sklearn import FoundationClassifier, FoundationTransformer

from conftest import MODELS, tiny


# Imported plainly: a missing moabb must fail the run, not skip it.
from moabb.datasets.fake import FakeDataset
from moabb.evaluations import CrossSessionEvaluation, CrossSubjectEvaluation, WithinSessionEvaluation
from moabb.paradigms import LeftRightImagery

# The 19 electrodes of the 10-20 system, in the order the fake recordings use.
CHANNELS = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
            "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2")
SFREQ = 128.0
N_SUBJECTS = 2
N_SESSIONS = 2
TRIALS_PER_SESSION = 10  # one run of 10 events, alternating left/right
N_TIMES = 385  # LeftRightImagery's [0, 3] s interval at 128 Hz, both ends included
WITHIN_FOLDS = 2
EVENTS = ("left_hand", "right_hand")


# -- offline MOABB -------------------------------------------------------
@pytest.fixture
def moabb_home(tmp_path, monkeypatch):
    """Point every folder MOABB / mne could write to at tmp_path."""
    home = tmp_path / "home"
    scratch = tmp_path / "scratch"
    home.mkdir()
    scratch.mkdir()
    for var in ("MNE_DATA", "MOABB_RESULTS", "_MNE_FAKE_HOME_DIR"):
        monkeypatch.setenv(var, str(home))
    # FakeDataset makes its data folder with tempfile.mkdtemp() and records it
    # in an MNE_DATASETS_<CODE>_PATH variable: keep both inside tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = set(os.environ)
    yield home
    for key in set(os.environ) - before:
        if key.startswith("MNE_DATASETS_"):
            del os.environ[key]


def make_dataset():
    return FakeDataset(
        event_list=EVENTS, paradigm="imagery", n_subjects=N_SUBJECTS, n_sessions=N_SESSIONS,
        n_runs=1, n_events=TRIALS_PER_SESSION, duration=40, channels=CHANNELS, sfreq=SFREQ, seed=42,
    )


def make_paradigm():
    # resample/channels fix the rate and channel order of numpy X, so
    # estimator params can state them.
    return LeftRightImagery(resample=SFREQ, channels=list(CHANNELS))


# -- a probe recording what reaches our estimators --------------------------
_SEEN: list[dict] = []


class Probe(TransformerMixin, BaseEstimator):
    """Pass X through unchanged; log each fit (X kind, units, trials, labels)."""

    def fit(self, X, y=None):
        epochs = isinstance(X, mne.BaseEpochs)
        data = X.get_data(copy=False) if epochs else np.asarray(X)
        _SEEN.append({
            "kind": "epochs" if epochs else "array",
            "n_trials": len(X),
            "shape": data.shape[1:],
            "sfreq": X.info["sfreq"] if epochs else None,
            "ch_names": tuple(X.ch_names) if epochs else None,
            "std": float(np.std(data)),
            "labels": np.asarray(y).copy(),
        })
        return self

    def transform(self, X):
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


@pytest.fixture
def seen():
    _SEEN.clear()
    yield _SEEN
    _SEEN.clear()


def pipelines(model, input_kind):
    """Two pipelines of ``model``: frozen embeddings + LR, and a fine-tuned head."""
    extra = {"random_state": 0, "batch_size": 32}
    if input_kind == "array":
        extra.update(sfreq=SFREQ, ch_names=list(CHANNELS))  # MOABB arrays are in µV (units="uV")
    return {
        f"{model}+LR": make_pipeline(Probe(), FoundationTransformer(**tiny(model, **extra)),
                                     LogisticRegression(max_iter=200)),
        f"{model}-finetuned": make_pipeline(Probe(), FoundationClassifier(**tiny(model, max_epochs=1, **extra))),
    }


# What each evaluation should produce with N_SUBJECTS x N_SESSIONS x 10 trials:
# (fits per pipeline, training trials per fit, trials counted in `samples`,
#  test trials per row). Every evaluation gives one row per subject, session
# and pipeline (CrossSubject scores each session of the held-out subject).
EXPECTED = {
    WithinSessionEvaluation: (N_SUBJECTS * N_SESSIONS * WITHIN_FOLDS,
                              TRIALS_PER_SESSION // WITHIN_FOLDS, TRIALS_PER_SESSION,
                              TRIALS_PER_SESSION // WITHIN_FOLDS),
    CrossSessionEvaluation: (N_SUBJECTS * N_SESSIONS, TRIALS_PER_SESSION, TRIALS_PER_SESSION,
                             TRIALS_PER_SESSION),
    CrossSubjectEvaluation: (N_SUBJECTS, (N_SUBJECTS - 1) * N_SESSIONS * TRIALS_PER_SESSION,
                             (N_SUBJECTS - 1) * N_SESSIONS * TRIALS_PER_SESSION, TRIALS_PER_SESSION),
}
EVALUATIONS = tuple(EXPECTED)


def run_evaluation(evaluation_cls, pipes, input_kind, home):
    kwargs = {"n_splits": WITHIN_FOLDS} if evaluation_cls is WithinSessionEvaluation else {}
    evaluation = evaluation_cls(
        paradigm=make_paradigm(), datasets=[make_dataset()], overwrite=True, random_state=0,
        hdf5_path=str(home), return_epochs=input_kind == "epochs", **kwargs,
    )
    return evaluation.process(pipes)


def check_results(results, evaluation_cls, pipes):
    n_fits, _, n_samples, n_test = EXPECTED[evaluation_cls]
    assert isinstance(results, pd.DataFrame)
    assert len(results) == N_SUBJECTS * N_SESSIONS * len(pipes)
    assert np.all(np.isfinite(results["score"].to_numpy(dtype=float)))
    assert results["score"].between(0, 1).all()  # roc_auc
    assert set(results["pipeline"]) == set(pipes)
    rows = results.groupby("pipeline")[["subject", "session"]].apply(
        lambda df: sorted(zip(df.subject.astype(int), df.session.astype(str)))
    )
    every = sorted((s, str(k)) for s in range(1, N_SUBJECTS + 1) for k in range(N_SESSIONS))
    assert all(r == every for r in rows)
    assert (results["samples"] == n_samples).all()
    assert (results["samples_test"] == n_test).all()
    assert (results["channels"] == len(CHANNELS)).all()
    assert (results["n_classes"] == 2).all()


def check_seen(seen, evaluation_cls, input_kind, n_pipes):
    """Every fit received the expected input type, units, trials and encoded labels."""
    n_fits, n_train, _, _ = EXPECTED[evaluation_cls]
    assert len(seen) == n_fits * n_pipes
    for record in seen:
        assert record["kind"] == input_kind
        assert record["n_trials"] == n_train
        assert record["shape"] == (len(CHANNELS), N_TIMES)
        # MOABB encodes labels 0..K-1 (left_hand=0, right_hand=1), balanced here.
        labels = record["labels"]
        assert labels.dtype.kind in "iu" and set(labels) == {0, 1}
        assert abs(np.sum(labels == 0) - np.sum(labels == 1)) <= 1
        # FakeDataset draws 2e-5 V = 20 µV noise (band-pass filtered by the paradigm).
        if input_kind == "array":
            assert 1 < record["std"] < 100  # µV: matches the estimators' units="uV"
        else:
            assert 1e-6 < record["std"] < 1e-4  # V: mne's unit, read as such
            assert record["sfreq"] == SFREQ and record["ch_names"] == CHANNELS


def _case(model, input_kind, evaluation_cls):
    # CrossSubject is the cheapest; the rest are the heavier cases.
    marks = () if evaluation_cls is CrossSubjectEvaluation else (pytest.mark.slow,)
    return pytest.param(model, input_kind, evaluation_cls, marks=marks,
                        id=f"{evaluation_cls.__name__}-{model}-{input_kind}")


CASES = [_case(m, k, e) for e in EVALUATIONS for m in MODELS for k in ("array", "epochs")]


@pytest.mark.parametrize("model, input_kind, evaluation_cls", CASES)
def test_evaluation_runs(model, input_kind, evaluation_cls, moabb_home, seen):
    pipes = pipelines(model, input_kind)
    results = run_evaluation(evaluation_cls, pipes, input_kind, moabb_home)
    check_results(results, evaluation_cls, pipes)
    check_seen(seen, evaluation_cls, input_kind, len(pipes))
    # Results went to the hdf5 file under tmp_path.
    assert list(moabb_home.rglob("*.hdf5"))


# -- the data MOABB serves, checked once --------------------------------------
def test_fake_dataset_labels_and_trials(moabb_home):
    dataset, paradigm = make_dataset(), make_paradigm()
    X, y, meta = paradigm.get_data(dataset)
    assert X.shape == (N_SUBJECTS * N_SESSIONS * TRIALS_PER_SESSION, len(CHANNELS), N_TIMES)
    for (subject, session), part in meta.groupby(["subject", "session"]):
        labels = y[part.index]
        # FakeDataset alternates the events in event_list order.
        assert list(labels) == [EVENTS[i % 2] for i in range(TRIALS_PER_SESSION)]
    assert sorted(meta.subject.unique()) == list(range(1, N_SUBJECTS + 1))
    assert meta.session.nunique() == N_SESSIONS
    epochs, y_epochs, meta_epochs = paradigm.get_data(dataset, return_epochs=True)
    np.testing.assert_array_equal(y_epochs, y)
    assert epochs.info["sfreq"] == SFREQ and tuple(epochs.ch_names) == CHANNELS
    # Same trials: numpy X is the Epochs' data in µV.
    np.testing.assert_allclose(X, epochs.get_data(copy=False) * 1e6, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_numpy_and_epochs_inputs_agree(model, moabb_home):
    """The two MOABB inputs give the same embeddings (units and order handled)."""
    dataset, paradigm = make_dataset(), make_paradigm()
    X, _, meta = paradigm.get_data(dataset, subjects=[1])
    epochs, _, _ = paradigm.get_data(dataset, subjects=[1], return_epochs=True)
    from_array = FoundationTransformer(**tiny(model, sfreq=SFREQ, ch_names=list(CHANNELS), random_state=0))
    from_epochs = FoundationTransformer(**tiny(model, random_state=0))
    E_array = from_array.fit(X).transform(X)
    E_epochs = from_epochs.fit(epochs).transform(epochs)
    assert E_array.shape == (len(meta), from_array.embedding_size_)
    np.testing.assert_allclose(E_epochs, E_array, rtol=1e-4, atol=1e-4)
