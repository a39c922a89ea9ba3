"""Evaluate foundation-model pipelines with MOABB, offline, on FakeDataset.
========================================================================

MOABB runs the usual benchmark protocols (within-session k-fold,
cross-session, cross-subject) on any scikit-learn pipeline. The estimators of
``eegfm_sklearn`` are plain scikit-learn estimators, so they drop straight in:

* ``FoundationTransformer`` turns each trial into the model's embedding (a
  frozen encoder); a ``LogisticRegression`` on top learns the task;
* ``FoundationClassifier`` fine-tunes the whole model with a new head.

This example needs no download: MOABB's ``FakeDataset`` generates random
"recordings" with real 10-20 channel names, so scores hover around chance.
Swap in a real dataset (e.g. ``moabb.datasets.BNCI2014_001()``) and a
pretrained checkpoint (``weights="labram-base"``) for a real benchmark.
Everything MOABB writes goes to a temporary folder, deleted at the end.

Run:  python examples/moabb_fake_evaluation.py  [--return-epochs] [--smoke]
(well under a minute on a laptop CPU; ``--smoke``, the smallest setting with
2 subjects of one session, runs in seconds and is what the test suite runs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings

import mne
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from eegfm_sklearn import FoundationClassifier, FoundationTransformer, get_model_card

# The 19 electrodes of the 10-20 system. The models pick (LaBraM, BENDR) or
# combine (BIOT's bipolar pairs) the channels they were trained on by name.
CHANNELS = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
            "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]
SFREQ = 128.0


def build_pipelines(return_epochs):
    """The pipelines to compare, as MOABB expects them: ``{name: estimator}``."""
    if return_epochs:
        # mne.Epochs carry their rate, channel names and units (V): nothing to say.
        data_params = {}
    else:
        # MOABB's default numpy X carries neither rate nor channel names (and is
        # in µV, the estimators' default units): state them. The paradigm's
        # resample= and channels= below guarantee they are right.
        data_params = {"sfreq": SFREQ, "ch_names": CHANNELS}

    # To keep the example fast on a CPU, both models use their card's tiny
    # architecture (`tiny_kwargs`) with random weights (weights=None keeps
    # it offline). For a real benchmark drop model_kwargs (full size) and
    # load a checkpoint, e.g. weights="labram-base".
    def tiny(model):
        return dict(get_model_card(model).tiny_kwargs)

    # Frozen LaBraM encoder -> CLS-token embedding -> logistic regression.
    labram = FoundationTransformer("labram", weights=None, model_kwargs=tiny("labram"),
                                   random_state=0, **data_params)
    # BIOT fine-tuned end to end with a new 2-class head, for one epoch.
    biot = FoundationClassifier("biot", weights=None, model_kwargs=tiny("biot"),
                                max_epochs=1, lr=1e-3, batch_size=16, random_state=0, **data_params)
    return {
        "LaBraM embeddings + LR": make_pipeline(labram, LogisticRegression(max_iter=500)),
        "BIOT fine-tuned": biot,
    }


def run_evaluations(workdir, return_epochs, n_subjects=3, n_sessions=2):
    """Within-session and cross-subject evaluations; one results table each."""
    from moabb.datasets.fake import FakeDataset
    from moabb.evaluations import CrossSubjectEvaluation, WithinSessionEvaluation
    from moabb.paradigms import LeftRightImagery

    # 3 subjects x 2 sessions x 16 trials of 3 s (default); two classes.
    dataset = FakeDataset(
        event_list=["left_hand", "right_hand"], paradigm="imagery",
        n_subjects=n_subjects, n_sessions=n_sessions, n_runs=1, n_events=16, duration=64,
        channels=CHANNELS, sfreq=SFREQ, seed=42,
    )
    # LeftRightImagery band-passes 8-32 Hz, cuts 0-3 s after each cue and
    # scores with ROC AUC (both pipelines provide predict_proba).
    paradigm = LeftRightImagery(resample=SFREQ, channels=CHANNELS)

    pipelines = build_pipelines(return_epochs)
    tables = []
    # Within-session: 2-fold CV inside each session (MOABB's default is 5);
    # cross-subject: train on all subjects but one, test on that one, in turn.
    for evaluation_cls, extra in ((WithinSessionEvaluation, {"n_splits": 2}),
                                  (CrossSubjectEvaluation, {})):
        evaluation = evaluation_cls(
            paradigm=paradigm, datasets=[dataset], overwrite=True, random_state=0,
            return_epochs=return_epochs,
            hdf5_path=workdir,  # where MOABB stores its results file
            **extra,
        )
        results = evaluation.process(pipelines)  # one row per subject/session/pipeline
        results["evaluation"] = evaluation_cls.__name__.replace("Evaluation", "")
        tables.append(results)
    return tables


def main(return_epochs=False, smoke=False):
    with tempfile.TemporaryDirectory(prefix="moabb-fake-") as workdir:
        # Keep MOABB and mne away from ~/mne_data and ~/.mne: data, results
        # and config all go to the temporary folder. FakeDataset also makes a
        # folder with tempfile.mkdtemp(): send it there too.
        for var in ("MNE_DATA", "MOABB_RESULTS", "_MNE_FAKE_HOME_DIR"):
            os.environ[var] = workdir
        tempfile.tempdir = workdir
        try:
            size = {"n_subjects": 2, "n_sessions": 1} if smoke else {}
            tables = run_evaluations(workdir, return_epochs, **size)
        finally:
            tempfile.tempdir = None

    results = pd.concat(tables, ignore_index=True)
    results["samples"] = results["samples"].astype(int)  # trials in the session / training set
    columns = ["evaluation", "pipeline", "subject", "session", "score", "time", "samples"]
    with pd.option_context("display.width", 120, "display.max_rows", 100):
        print(results[columns].sort_values(columns[:4]).to_string(index=False, float_format="%.3f"))
        print()
        print("Mean ROC AUC (chance level: the data are random noise):")
        print(results.groupby(["evaluation", "pipeline"])["score"].agg(["mean", "std", "count"]).round(3))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--return-epochs", action="store_true",
                        help="feed mne.Epochs (in V) to the pipelines instead of numpy arrays (in µV)")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: 2 subjects, 1 session")
    args = parser.parse_args()
    mne.set_log_level("WARNING")
    with warnings.catch_warnings():
        # BIOT's bipolar montage leaves Fz, Cz, Pz unused: it says so once per fit.
        warnings.filterwarnings("ignore", message="biot does not use input channel")
        # Deprecation notices from the libraries underneath (montage names, h5py).
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Creating a dataset without passing data")
        warnings.filterwarnings("ignore", message="A window was not provided")  # torch.stft in BIOT
        main(return_epochs=args.return_epochs, smoke=args.smoke)
