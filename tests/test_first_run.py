"""A first run that explains itself: missing recordings and weights, progress, warnings.

Offline is forced, never assumed: recordings are looked for in an empty
folder and "downloaded" from a closed local port (or with EEGFM_OFFLINE=1);
weights from an empty Hugging Face cache with HF_HUB_OFFLINE=1 or a closed
port as HF_ENDPOINT. So the tests behave the same on a machine with internet.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from sklearn.base import clone

from eegfm_sklearn import ChannelWarning, FoundationClassifier, FoundationTransformer
from eegfm_sklearn.datasets import DataNotFoundError, fetch_eegmat, load_eegmat
from eegfm_sklearn.utils.progress import progress, show_progress
from eegfm_sklearn.weights import WeightsError

from conftest import tiny

ROOT = Path(__file__).resolve().parents[1]
CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once
# Examples that read recordings (the others, e.g. MOABB's FakeDataset, need none).
DATA_LOADERS = ("load_eegmat", "fetch_eegmat", "simulate_paired_windows", "get_data_dir")


def _recording_examples():
    return sorted(p.name for p in (ROOT / "examples").glob("*.py")
                  if any(name in p.read_text() for name in DATA_LOADERS))


def _offline_env(tmp_path, **extra):
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "EEGFM_DATA_DIR": str(empty), "HOME": str(tmp_path / "home"),
           "EEGFM_EEGMAT_URL": CLOSED_PORT + "/", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}
    env.pop("PYTHONWARNINGS", None)
    return env




def test_quickstart_without_recordings_fails_before_loading_torch(tmp_path):
    # the no-data first run answers within a second: the model libraries load once data is found
    # (import torch alone takes seconds; a timing here would depend on the machine's load)
    proc = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "examples" / "quickstart_eegmat.py"),
                           "--smoke"], cwd=ROOT, env=_offline_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "error: " in proc.stderr, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "eegfm_sklearn.datasets" in imported  # the import log was read
    heavy = imported & {"torch", "sklearn", "pandas", "scipy.signal", "braindecode", "skorch"}
    assert not heavy, f"loaded before the recordings were found: {sorted(heavy)}"

# -- missing recordings ---------------------------------------------------------------
@pytest.mark.slow  # a fresh interpreter per example
@pytest.mark.parametrize("example", _recording_examples())
def test_example_without_recordings_prints_one_message_and_exits_1(example, tmp_path):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / example), "--smoke"], cwd=ROOT,
                          env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 6, proc.stderr
    assert str(tmp_path / "empty") in proc.stderr and "EEGFM_DATA_DIR" in proc.stderr
    assert elapsed < 60, f"{example} took {elapsed:.0f} s to fail"  # mostly the imports of torch and mne
    if example == "quickstart_eegmat.py":  # the main job: the three ways, in full
        folder = tmp_path / "empty" / "eegmat"
        assert proc.stdout == "" and f"missing from {folder} (folder from $EEGFM_DATA_DIR)" in proc.stderr
        assert "no network: could not connect to 127.0.0.1:9" in proc.stderr
        assert "1. set EEGFM_DATA_DIR" in proc.stderr
        assert (f"2. run once with network: missing files are downloaded from {CLOSED_PORT}/ into {folder}"
                in proc.stderr)
        assert (f"3. copy them by hand from https://physionet.org/content/eegmat/1.0.0/ as "
                f"{folder}/SubjectNN_1.edf") in proc.stderr


def test_fallback_folder_is_named_when_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("EEGFM_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EEGFM_OFFLINE", "1")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # no ../shared/data from here
    with pytest.raises(DataNotFoundError) as err:
        fetch_eegmat(subjects=[3])
    msg = str(err.value)
    assert f"missing from {tmp_path / 'home' / 'eegfm_data' / 'eegmat'}" in msg
    assert "the fallback ~/eegfm_data, as $EEGFM_DATA_DIR is unset and no ../shared/data exists" in msg
    assert "2 file(s) (Subject03_1.edf ... Subject03_2.edf)" in msg and "EEGFM_OFFLINE=1" in msg
    assert not (tmp_path / "home" / "eegfm_data").exists()  # nothing attempted, nothing created


def test_closed_port_fails_at_once_and_download_false_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("EEGFM_EEGMAT_URL", CLOSED_PORT + "/")
    monkeypatch.delenv("EEGFM_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError, match="no network: could not connect to 127.0.0.1:9"):
        load_eegmat(subjects=range(2), data_dir=tmp_path)
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "eegmat").exists()  # the failed first run leaves no empty folder behind
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the fallback ~/eegfm_data: not left behind either
    monkeypatch.delenv("EEGFM_DATA_DIR", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(DataNotFoundError, match="no network"):
        load_eegmat(subjects=[0])
    assert not (tmp_path / "home" / "eegfm_data").exists()
    with pytest.raises(DataNotFoundError, match=r"not downloaded: download=False\."):
        load_eegmat(subjects=[0], data_dir=tmp_path, download=False)
    assert issubclass(DataNotFoundError, FileNotFoundError)  # code catching the built-in still works


# -- missing weights -------------------------------------------------------------------
def _fit_named_weights(synthetic):
    est = FoundationTransformer(**tiny("labram", weights="labram-base", sfreq=synthetic.sfreq,
                                       ch_names=synthetic.ch_names))
    start = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        est.fit(synthetic.X)
    return str(err.value), time.perf_counter() - start


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE=1", "HF_ENDPOINT=closed port"])
def test_registry_name_offline_fails_fast_saying_how_to_provide_it(offline, synthetic, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    if offline.startswith("HF_HUB_OFFLINE"):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        why = "downloads are off (HF_HUB_OFFLINE=1)"
    else:  # the Hub "exists" but cannot be reached: huggingface_hub alone would retry ~25 s per file
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)
        why = f"{CLOSED_PORT} could not be reached"
    msg, elapsed = _fit_named_weights(synthetic)
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert "model.safetensors or pytorch_model.bin of Hugging Face repo 'braindecode/labram-pretrained'" in msg
    assert f"not in the cache {tmp_path / 'hf' / 'hub'}, and not downloaded: {why}" in msg
    assert "1. run once with network" in msg and "2. point HF_HOME or HF_HUB_CACHE" in msg
    assert "3. download" in msg and "as weights=" in msg


# -- progress --------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_drawn_only_when_asked_and_watched(monkeypatch):
    assert not show_progress(1, io.StringIO()) and show_progress(1, _Terminal())
    assert not show_progress(0, _Terminal()) and show_progress(2, io.StringIO())
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert list(progress(iter(range(5)), total=5, verbose=1, desc="demo")) == list(range(5))
    assert "demo:   0%" in err.getvalue() and "0/5" in err.getvalue()
    items = range(1)
    assert progress(items, verbose=2) is items  # one batch: no bar
    assert progress(range(5), verbose=0) == range(5)


def test_transform_shows_a_bar_over_batches_only_with_verbose(synthetic, monkeypatch, capsys):
    est = FoundationTransformer(**tiny("labram", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names,
                                       batch_size=4, random_state=0)).fit(synthetic.X)
    capsys.readouterr()
    est.transform(synthetic.X)
    assert capsys.readouterr().err == ""  # verbose=0
    est.set_params(verbose=2).transform(synthetic.X)  # 24 windows in batches of 4
    assert re.search(r"labram: .*0/6", capsys.readouterr().err)


def test_fine_tuning_prints_one_line_per_epoch_with_verbose(synthetic, capsys):
    params = tiny("biot", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChannelWarning)
        FoundationClassifier(**params).fit(synthetic.X, synthetic.y)
        assert capsys.readouterr().out == ""  # verbose=0: silent
        FoundationClassifier(**params, verbose=1).fit(synthetic.X, synthetic.y)
    out = capsys.readouterr()
    rows = [line.split() for line in out.out.splitlines() if re.match(r"^\s+\d+\s", line)]
    assert [r[0] for r in rows] == ["1", "2", "3"]  # skorch's table: epoch, train_loss, dur
    assert "train_loss" in out.out and "\r" not in out.err  # no bar: the test's stderr is no terminal
    assert "\x1b[" not in out.out  # nor colour codes in what may be a log file


# -- warnings --------------------------------------------------------------------------
def _fit_twice(est, X, y=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
        est.fit(X, y)
    return [(w.category, str(w.message)) for w in caught]


def test_each_warning_is_given_once_per_estimator_and_cause(synthetic):
    X = synthetic.X * 1e3  # mV values declared as µV: implausible amplitude
    est = FoundationClassifier(**tiny("biot", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names,
                                      max_epochs=1, random_state=0))
    caught = _fit_twice(est, X, synthetic.y)
    categories = sorted(c.__name__ for c, _ in caught)
    # BIOT's bipolar montage leaves Fz, Cz, Pz unused; the amplitude is ~1000x EEG's. Nothing else:
    # torch's STFT notice in BIOT and braindecode's notices are filtered where they arise.
    assert categories == ["ChannelWarning", "UnitsWarning"], caught
    assert "does not use input channel(s) ['Fz', 'Cz', 'Pz']" in dict(caught)[ChannelWarning]

    # the same estimator predicting: the amplitude was already reported
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        est.predict(X[:4])
    assert later == []
    # another cause is reported
    with pytest.warns(ChannelWarning, match=r"\['Cz'\]"):
        est.set_params(ch_names=[n for n in synthetic.ch_names if n not in ("Fz", "Pz")])
        est.fit(X[:, [i for i, n in enumerate(synthetic.ch_names) if n not in ("Fz", "Pz")]], synthetic.y)


def test_clones_share_the_record_a_new_estimator_starts_afresh(synthetic):
    params = tiny("biot", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names, random_state=0)
    est = FoundationTransformer(**params)
    assert len(_fit_twice(est, synthetic.X)) == 1
    assert _fit_twice(clone(est), synthetic.X) == []  # folds of a CV: one warning in all
    assert _fit_twice(pickle.loads(pickle.dumps(est)), synthetic.X) == []  # a copy has said it too
    assert len(_fit_twice(FoundationTransformer(**params), synthetic.X)) == 1


@pytest.mark.parametrize("model", ["luna", "pbt"])
def test_dependency_notices_are_filtered_where_they_arise(model, synthetic):
    # braindecode's LUNA builds a torch TransformerEncoder that notes a speed path it cannot use;
    # PBT's constructor notes its own default width: on every build, copy and unpickling.
    est = FoundationTransformer(**tiny(model, sfreq=synthetic.sfreq, ch_names=synthetic.ch_names,
                                       random_state=0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(synthetic.X[:4])
        pickle.loads(pickle.dumps(est)).transform(synthetic.X[:4])
    assert [str(w.message) for w in caught] == []


def test_a_warning_turned_into_an_error_is_raised_on_every_fit(synthetic):
    est = FoundationTransformer(**tiny("biot", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names))
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ChannelWarning)
            with pytest.raises(ChannelWarning):
                est.fit(synthetic.X)


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_package_prints_nothing():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTHONWARNINGS", None)  # Python's default filters, as a user has them
    proc = subprocess.run([sys.executable, "-c", "import eegfm_sklearn"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]


def test_streaming_a_recording_shows_one_bar_over_its_chunks(capsys):
    import mne
    import numpy as np

    rng = np.random.default_rng(0)
    info = mne.create_info(["Fp1", "C3", "Cz", "O2"], 200.0, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((4, 200 * 60)) * 1e-5, info, verbose=False)  # 60 s
    est = FoundationTransformer(**tiny("bendr", window_seconds=4, stride_seconds=4, batch_size=5, filters=None,
                                       random_state=0)).fit(raw)
    capsys.readouterr()
    quiet = est.transform(raw)
    assert capsys.readouterr().err == ""  # verbose=0
    loud = est.set_params(verbose=2).transform(raw)  # 15 windows in chunks of 5
    err = capsys.readouterr().err
    assert re.search(r"embedding: .*0/3 .*chunk", err)  # one bar, total = the 3 chunks
    np.testing.assert_array_equal(quiet, loud)


@pytest.mark.slow
def test_warnings_point_at_the_users_line(synthetic, tmp_path):
    """fit called from here (directly, through a pipeline, through cross_val_score): the warning names this file."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    from eegfm_sklearn.utils.cache import CacheWarning

    params = tiny("biot", sfreq=synthetic.sfreq, ch_names=synthetic.ch_names, random_state=0)
    calls = {
        "fit": lambda: FoundationTransformer(**params).fit(synthetic.X),
        "pipeline": lambda: make_pipeline(FoundationTransformer(**params)).fit(synthetic.X),
        "cross_val_score": lambda: cross_val_score(FoundationClassifier(**params, max_epochs=1), synthetic.X,
                                                   synthetic.y, cv=2, error_score="raise"),
    }
    for name, call in calls.items():
        with pytest.warns(ChannelWarning) as record:
            call()
        assert {w.filename for w in record if w.category is ChannelWarning} == {__file__}, name
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.warns(CacheWarning) as record:
        FoundationTransformer(**params, cache=str(blocker / "cache")).fit(synthetic.X).transform(synthetic.X)
    assert {w.filename for w in record if w.category is CacheWarning} == {__file__}
