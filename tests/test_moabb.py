"""MOABB evaluations of foundation-model pipelines, offline, on FakeDataset.

WithinSession, CrossSession and CrossSubject evaluations run for every model,
on MOABB's default numpy input (µV; rate and channel names given as params,
which the paradigm's ``resample``/``channels`` make valid) and with
``return_epochs=True`` (``mne.Epochs`` in V; rate and names read from the
object). A pass-through probe placed first in every pipeline records what
MOABB hands our estimators (input type, units, trial counts, labels), so the
tests check the plumbing and not only that a score came out; a dataset whose
right-hand trials carry a tone checks the label order end to end.

Everything MOABB or mne writes goes under pytest's tmp_path.
"""

from __future__ import annotations

import os
import tempfile

import mne
import numpy as np
import pandas as pd
import pytest
import torch

# Imported plainly: a missing moabb must fail the run, not skip it.
from moabb.datasets.fake import FakeDataset
from moabb.evaluations import CrossSessionEvaluation, CrossSubjectEvaluation, WithinSessionEvaluation
from moabb.paradigms import LeftRightImagery
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from eegfm_sklearn import FoundationClassifier, FoundationTransformer

from conftest import MODELS, REPRESENTATIVE, tiered, tiny

# The 19 electrodes of the 10-20 system, in the order the fake recordings use.
CHANNELS = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
            "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2")
EVENTS = ("left_hand", "right_hand")
SFREQ = 128.0
N_SUBJECTS = 2
N_SESSIONS = 2
TRIALS_PER_SESSION = 10  # one run of 10 events, alternating left / right
# 2 s trials: above BENDR's 1.5 s minimum, two 1 s LaBraM patches. mne keeps
# both ends of [tmin, tmax]: 2 * 128 + 1 samples.
TMAX = 2.0
N_TIMES = int(TMAX * SFREQ) + 1
WITHIN_FOLDS = 2


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads; on a busy machine the
    spin-waits of a second OpenMP thread make small ops many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- offline MOABB ---------------------------------------------------------
@pytest.fixture
def moabb_home(tmp_path, monkeypatch):
    """Point every folder MOABB / mne could write to at tmp_path."""
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    home.mkdir()
    scratch.mkdir()
    for var in ("MNE_DATA", "MOABB_RESULTS", "_MNE_FAKE_HOME_DIR"):
        monkeypatch.setenv(var, str(home))
    # FakeDataset makes its data folder with tempfile.mkdtemp() and records it
    # in an MNE_DATASETS_<CODE>_PATH variable: keep the folder in tmp_path and
    # drop the variable afterwards.
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = set(os.environ)
    yield home
    for key in set(os.environ) - before:
        if key.startswith("MNE_DATASETS_"):
            del os.environ[key]


DATASET_KWARGS = dict(
    event_list=EVENTS, paradigm="imagery", n_subjects=N_SUBJECTS, n_sessions=N_SESSIONS,
    n_runs=1, n_events=TRIALS_PER_SESSION, duration=40, channels=CHANNELS, sfreq=SFREQ, seed=42,
)


def make_dataset():
    return FakeDataset(**DATASET_KWARGS)


class ToneFake(FakeDataset):
    """FakeDataset whose right-hand trials carry a 12 Hz, 40 µV tone on every channel."""

    def __init__(self):
        super().__init__(code="ToneFake", **DATASET_KWARGS)

    def _generate_raw(self, n_events, duration):
        raw = super()._generate_raw(n_events, duration)
        data = raw.get_data()
        stim = data[raw.ch_names.index("stim")]
        eeg = mne.pick_types(raw.info, eeg=True)
        tone = 40e-6 * np.sin(2 * np.pi * 12.0 * np.arange(int(3 * self.sfreq)) / self.sfreq)
        for onset in np.flatnonzero(stim == self.event_id["right_hand"]):
            stop = min(onset + len(tone), data.shape[1])
            data[eeg, onset:stop] += tone[: stop - onset]
        return mne.io.RawArray(data, raw.info, verbose=False)


def make_paradigm():
    # resample/channels fix the rate and channel order of numpy X, so that
    # estimator params can state them.
    return LeftRightImagery(resample=SFREQ, channels=list(CHANNELS), tmin=0.0, tmax=TMAX)


# -- a probe recording what reaches our estimators ----------------------------
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


def make_pipeline_of(model, input_kind, estimator):
    """``{name: pipeline}``: frozen embeddings + LR, or a fine-tuned head."""
    extra = {"random_state": 0}
    if input_kind == "array":
        extra.update(sfreq=SFREQ, ch_names=list(CHANNELS))  # MOABB arrays are µV: the default units
    if estimator == "transformer":
        steps = [FoundationTransformer(**tiny(model, **extra)), LogisticRegression(max_iter=200)]
    else:
        steps = [FoundationClassifier(**tiny(model, max_epochs=1, **extra))]
    return {f"{model}-{estimator}": make_pipeline(Probe(), *steps)}


def run_evaluation(evaluation_cls, pipes, input_kind, home, dataset=None, **kwargs):
    if evaluation_cls is WithinSessionEvaluation:
        kwargs.setdefault("n_splits", WITHIN_FOLDS)
    evaluation = evaluation_cls(
        paradigm=make_paradigm(), datasets=[dataset or make_dataset()], overwrite=True, random_state=0,
        hdf5_path=str(home), return_epochs=input_kind == "epochs", **kwargs,
    )
    return evaluation.process(pipes)


# Per evaluation, with N_SUBJECTS x N_SESSIONS x TRIALS_PER_SESSION trials:
# fits per pipeline, training trials per fit, the `samples` column, the
# `samples_test` column. Every evaluation gives one row per subject, session
# and pipeline (CrossSubject scores each session of the held-out subject).
EXPECTED = {
    WithinSessionEvaluation: dict(
        fits=N_SUBJECTS * N_SESSIONS * WITHIN_FOLDS, train=TRIALS_PER_SESSION // WITHIN_FOLDS,
        samples=TRIALS_PER_SESSION, test=TRIALS_PER_SESSION // WITHIN_FOLDS),
    CrossSessionEvaluation: dict(
        fits=N_SUBJECTS * N_SESSIONS, train=(N_SESSIONS - 1) * TRIALS_PER_SESSION,
        samples=(N_SESSIONS - 1) * TRIALS_PER_SESSION, test=TRIALS_PER_SESSION),
    CrossSubjectEvaluation: dict(
        fits=N_SUBJECTS, train=(N_SUBJECTS - 1) * N_SESSIONS * TRIALS_PER_SESSION,
        samples=(N_SUBJECTS - 1) * N_SESSIONS * TRIALS_PER_SESSION, test=TRIALS_PER_SESSION),
}


def check_results(results, evaluation_cls, pipes):
    expected = EXPECTED[evaluation_cls]
    assert isinstance(results, pd.DataFrame)
    assert len(results) == N_SUBJECTS * N_SESSIONS * len(pipes)
    scores = results["score"].to_numpy(dtype=float)
    assert np.all(np.isfinite(scores))
    if evaluation_cls is not WithinSessionEvaluation:
        # One ROC AUC per held-out session of 5 left + 5 right trials: a multiple of 1 / (2 * 5 * 5)
        # (ties count half). Scores of another test set, or not an AUC at all, leave this lattice.
        assert np.allclose(scores * 50, np.round(scores * 50)), scores
    every = {(s, str(k)) for s in range(1, N_SUBJECTS + 1) for k in range(N_SESSIONS)}
    for name in pipes:
        rows = results[results["pipeline"] == name]
        assert {(int(s), str(k)) for s, k in zip(rows["subject"], rows["session"])} == every
    assert (results["samples"] == expected["samples"]).all()
    assert (results["samples_test"] == expected["test"]).all()
    assert (results["channels"] == len(CHANNELS)).all()
    assert (results["n_classes"] == 2).all()


def check_seen(seen, evaluation_cls, input_kind, n_pipes):
    """Every fit got the expected input type, units, trials and encoded labels."""
    expected = EXPECTED[evaluation_cls]
    assert len(seen) == expected["fits"] * n_pipes
    for record in seen:
        assert record["kind"] == input_kind
        assert record["n_trials"] == expected["train"]
        assert record["shape"] == (len(CHANNELS), N_TIMES)
        # MOABB label-encodes y to 0..K-1 (left_hand=0, right_hand=1): balanced here.
        labels = record["labels"]
        assert labels.dtype.kind in "iu" and set(labels) == {0, 1}
        assert abs(np.sum(labels == 0) - np.sum(labels == 1)) <= 1
        # FakeDataset draws 2e-5 V (20 µV) noise, band-passed 8-32 Hz by the paradigm.
        if input_kind == "array":
            assert 1 < record["std"] < 100  # µV, the estimators' default units
        else:
            assert 1e-6 < record["std"] < 1e-4  # V, as mne stores it
            assert record["sfreq"] == SFREQ and record["ch_names"] == CHANNELS


def check_saved_models(home, n_models):
    """MOABB pickled each fold's fitted pipeline (our estimators pickle inside MOABB).

    Reloading is not checked: MOABB 1.7's ``_ensure_fitted`` binds a local
    function as ``__sklearn_is_fitted__`` on every step that lacks one
    (LogisticRegression, ours), and such pickles fail to load.
    """
    files = sorted(home.rglob("fitted_model_*.pkl"))
    assert len(files) == n_models and all(f.stat().st_size > 0 for f in files)


def _cases():
    # One pipeline per case, alternated so that every model meets both
    # estimators with both inputs and every evaluation runs both estimators.
    # WithinSession (8 fits per case) is the heavy one.
    # The fast tier: each representative model under one of the cross evaluations (alternating),
    # with both inputs; the rest is slow.
    for i, evaluation_cls in enumerate(EXPECTED):
        for model in MODELS:
            fast = (evaluation_cls is not WithinSessionEvaluation and model in REPRESENTATIVE
                    and REPRESENTATIVE.index(model) % 2 == i % 2)
            marks = () if fast else (pytest.mark.slow,)
            for j, input_kind in enumerate(("array", "epochs")):
                estimator = ("transformer", "classifier")[(i + j) % 2]
                yield pytest.param(evaluation_cls, model, input_kind, estimator, marks=marks,
                                   id=f"{evaluation_cls.__name__}-{model}-{input_kind}-{estimator}")


@pytest.mark.parametrize("evaluation_cls, model, input_kind, estimator", list(_cases()))
def test_evaluation_runs(evaluation_cls, model, input_kind, estimator, moabb_home, seen):
    pipes = make_pipeline_of(model, input_kind, estimator)
    # CrossSubject also saves each fold's fitted pipeline (MOABB pickles it).
    save_model = evaluation_cls is CrossSubjectEvaluation
    results = run_evaluation(evaluation_cls, pipes, input_kind, moabb_home, save_model=save_model)
    check_results(results, evaluation_cls, pipes)
    check_seen(seen, evaluation_cls, input_kind, len(pipes))
    assert list(moabb_home.rglob("*.hdf5"))  # the results file went under tmp_path
    if save_model:
        check_saved_models(moabb_home, n_models=EXPECTED[evaluation_cls]["fits"] * len(pipes))


@pytest.mark.parametrize("input_kind", ["array", "epochs"])
def test_label_order_end_to_end(input_kind, moabb_home, seen):
    """Right-hand trials carry a tone: a swapped label or probability column would give AUC ~ 0.

    LaBraM's scaling keeps amplitudes (BENDR's and BIOT's normalise each window),
    so even a random tiny LaBraM separates the tone from the noise.
    """
    pipes = {**make_pipeline_of("labram", input_kind, "transformer"),
             **make_pipeline_of("labram", input_kind, "classifier")}
    results = run_evaluation(CrossSubjectEvaluation, pipes, input_kind, moabb_home, dataset=ToneFake())
    check_results(results, CrossSubjectEvaluation, pipes)
    check_seen(seen, CrossSubjectEvaluation, input_kind, len(pipes))
    assert (results["score"] > 0.9).all(), results[["pipeline", "subject", "session", "score"]]


@pytest.mark.slow
def test_parallel_jobs_match_sequential(moabb_home):
    """n_jobs=2 pickles the pipelines to joblib workers: same scores as in-process."""
    pipes = {**make_pipeline_of("labram", "array", "transformer"),
             **make_pipeline_of("bendr", "array", "classifier")}

    def scores(n_jobs):
        results = run_evaluation(CrossSubjectEvaluation, pipes, "array", moabb_home, n_jobs=n_jobs)
        check_results(results, CrossSubjectEvaluation, pipes)
        return results.sort_values(["pipeline", "subject", "session"])["score"].to_numpy(dtype=float)

    np.testing.assert_allclose(scores(2), scores(1), atol=1e-6)


# -- the data MOABB serves --------------------------------------------------------
def test_fake_dataset_labels_and_trials(moabb_home):
    dataset, paradigm = make_dataset(), make_paradigm()
    X, y, meta = paradigm.get_data(dataset)
    assert X.shape == (N_SUBJECTS * N_SESSIONS * TRIALS_PER_SESSION, len(CHANNELS), N_TIMES)
    assert sorted(meta["subject"].unique()) == list(range(1, N_SUBJECTS + 1))
    assert meta["session"].nunique() == N_SESSIONS
    for _, part in meta.groupby(["subject", "session"]):
        # FakeDataset alternates the events in event_list order.
        assert list(y[part.index]) == [EVENTS[i % 2] for i in range(TRIALS_PER_SESSION)]
    epochs, y_epochs, _ = paradigm.get_data(dataset, return_epochs=True)
    np.testing.assert_array_equal(y_epochs, y)
    assert epochs.info["sfreq"] == SFREQ and tuple(epochs.ch_names) == CHANNELS
    # Same trials either way: numpy X is the Epochs' data in µV.
    np.testing.assert_allclose(X, epochs.get_data(copy=False) * 1e6, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("model", tiered(MODELS))
def test_numpy_and_epochs_inputs_agree(model, moabb_home):
    """MOABB's two inputs (µV array + params, Epochs in V) give the same embeddings."""
    dataset, paradigm = make_dataset(), make_paradigm()
    X, _, meta = paradigm.get_data(dataset, subjects=[1])
    epochs, _, _ = paradigm.get_data(dataset, subjects=[1], return_epochs=True)
    from_array = FoundationTransformer(**tiny(model, sfreq=SFREQ, ch_names=list(CHANNELS), random_state=0))
    from_epochs = FoundationTransformer(**tiny(model, random_state=0))
    E_array = from_array.fit(X).transform(X)
    E_epochs = from_epochs.fit(epochs).transform(epochs)
    assert E_array.shape == (len(meta), from_array.embedding_size_)
    np.testing.assert_allclose(E_epochs, E_array, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_within_session_evaluation_embeds_each_trial_once_with_cache(moabb_home, monkeypatch):
    from eegfm_sklearn.utils.cache import MemoryStore

    embedded = []
    forward = FoundationTransformer._adapt_and_forward

    def counting(self, X, *args, **kwargs):
        embedded.append(len(X))
        return forward(self, X, *args, **kwargs)

    monkeypatch.setattr(FoundationTransformer, "_adapt_and_forward", counting)
    extra = dict(random_state=0, sfreq=SFREQ, ch_names=list(CHANNELS))

    def pipes(**cache):
        return {"labram-frozen": make_pipeline(FoundationTransformer(**tiny("labram", **extra, **cache)),
                                               LogisticRegression(max_iter=200))}

    plain = run_evaluation(WithinSessionEvaluation, pipes(), "array", moabb_home)
    n_plain, embedded[:] = sum(embedded), []
    MemoryStore.clear()
    cached = run_evaluation(WithinSessionEvaluation, pipes(cache="memory"), "array", moabb_home)
    MemoryStore.clear()
    # 2 subjects x 2 sessions x 2 folds, each embedding its 5 training and 5 test trials
    assert n_plain == N_SUBJECTS * N_SESSIONS * TRIALS_PER_SESSION * 2
    assert sum(embedded) == N_SUBJECTS * N_SESSIONS * TRIALS_PER_SESSION  # each trial once
    key = ["subject", "session"]
    np.testing.assert_allclose(cached.sort_values(key)["score"].to_numpy(float),
                               plain.sort_values(key)["score"].to_numpy(float), atol=1e-6)
