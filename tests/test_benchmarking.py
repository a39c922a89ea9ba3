"""eegfm_sklearn.benchmark: rows, baselines, resuming from results_dir, joblib parallelism."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold

import eegfm_sklearn
from eegfm_sklearn import benchmarking
from eegfm_sklearn.datasets import WindowedRecordings

from conftest import tiny

CHANNELS = ("Fp1", "F3", "Fz", "C3", "Cz", "C4", "Pz", "O1")
TIMING = ["fit_seconds", "score_seconds"]


def separable(n_groups=4, per_label=8, sfreq=200.0, seconds=2.0, seed=0):
    """Windows whose class is carried by a strong, spatially coherent 10 Hz source.

    White noise of 10 µV per channel, plus one 10 Hz source projected on a
    fixed spatial pattern: amplitude 12 µV in "rest", 2 µV in "task". The
    source adds ~70 µV² to the 8-13 Hz band power (noise there: ~5 µV²)
    and a rank-one term to the covariance, so both baselines separate the
    classes in every window, whatever the noise draw.
    """
    rng = np.random.default_rng(seed)
    n = int(sfreq * seconds)
    t = np.arange(n) / sfreq
    pattern = np.linspace(0.6, 1.4, len(CHANNELS))[:, None]
    X, y, groups = [], [], []
    for group in range(n_groups):
        for label, amplitude in (("rest", 12.0), ("task", 2.0)):
            for _ in range(per_label):
                source = amplitude * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi))
                X.append(10.0 * rng.standard_normal((len(CHANNELS), n)) + pattern * source)
                y.append(label)
                groups.append(group)
    return WindowedRecordings(np.array(X), np.array(y), np.array(groups), sfreq, list(CHANNELS))


@pytest.fixture(scope="module")
def data():
    return separable()


def biot_params(**extra):
    params = tiny("biot", max_epochs=1, batch_size=16, **extra)
    params.pop("model")
    return {"biot": params}


def test_exported_from_package():
    assert eegfm_sklearn.benchmark is benchmarking.benchmark
    assert "benchmark" in eegfm_sklearn.__all__


def test_one_row_per_model_strategy_seed_fold(data):
    small = WindowedRecordings(data.X[data.groups < 3], data.y[data.groups < 3], data.groups[data.groups < 3],
                               data.sfreq, data.ch_names)
    df = benchmarking.benchmark(["biot"], small, ("linear", "lora"), cv="loso", baselines=("bandpower",),
                                model_params=biot_params())
    assert list(df.columns) == list(benchmarking.COLUMNS)
    # (1 baseline + 2 strategies) x 1 seed x 3 leave-one-subject-out folds
    assert len(df) == 9
    assert sorted(map(tuple, df[["model", "strategy"]].drop_duplicates().values)) == [
        ("bandpower", "baseline"), ("biot", "linear"), ("biot", "lora")]
    for _, rows in df.groupby(["model", "strategy"]):
        assert sorted(rows["fold"]) == [0, 1, 2] and sorted(rows["test_group"]) == ["0", "1", "2"]
    assert (df["n_train"] == 32).all() and (df["n_test"] == 16).all()
    assert (df["metric"] == "balanced_accuracy").all() and df["score"].between(0, 1).all()
    assert (df[TIMING] > 0).all().all() and (df["seed"] == 0).all()


def test_seeds_and_multi_group_folds(data):
    df = benchmarking.benchmark([], data, (), cv=GroupKFold(2), n_seeds=2, baselines=("bandpower",))
    assert len(df) == 2 * 2  # 2 seeds x 2 folds
    assert sorted(df["seed"]) == [0, 0, 1, 1]
    # each fold holds two of the four groups, joined in order
    assert all(len(g.split(",")) == 2 for g in df["test_group"])
    assert set(",".join(df["test_group"][df["seed"] == 0]).split(",")) == {"0", "1", "2", "3"}


def test_baselines_beat_chance_on_separable_data(data):
    df = benchmarking.benchmark([], data, (), cv="loso")
    assert set(df["model"]) == {"bandpower", "tangent_space"} and len(df) == 2 * 4
    # chance is 0.5; the class signal is ~14x the in-band noise power in every window
    assert (df["score"] >= 0.9).all(), df[["model", "fold", "score"]]


def test_log_band_power_shape_and_bands_without_bins():
    X = np.random.default_rng(0).standard_normal((3, 4, 100))
    assert benchmarking.log_band_power(X, 100.0).shape == (3, 4 * 5)
    # at 40 Hz (bins up to 20 Hz) the 30-45 Hz band has no bin: 4 bands left
    assert benchmarking.log_band_power(X, 40.0).shape == (3, 4 * 4)
    with pytest.raises(ValueError, match="longer windows"):
        benchmarking.log_band_power(X, 1.0)


def count_fits(monkeypatch):
    calls = []
    for name in ("make_baseline", "make_model_estimator"):
        original = getattr(benchmarking, name)

        def counted(*args, _original=original, **kwargs):
            calls.append(args[0])
            return _original(*args, **kwargs)

        monkeypatch.setattr(benchmarking, name, counted)
    return calls


def test_rerun_skips_stored_rows_and_recomputes_damaged_ones(data, tmp_path, monkeypatch):
    calls = count_fits(monkeypatch)
    def run():
        return benchmarking.benchmark(["biot"], data, ("linear",), cv=GroupKFold(2), results_dir=tmp_path,
                                      model_params=biot_params())

    first = run()
    assert len(calls) == len(first) == 3 * 2
    files = sorted(tmp_path.glob("*.json"))
    assert [f.name for f in files] == sorted(
        f"{m}__{s}__seed0__fold{k}.json" for m, s in
        (("bandpower", "baseline"), ("tangent_space", "baseline"), ("biot", "linear")) for k in (0, 1))

    calls.clear()
    again = run()
    assert calls == []  # nothing refitted: every row read back, timings included
    pd.testing.assert_frame_equal(again, first)

    # a truncated file, a file whose score was edited, and a deleted file: those three only are recomputed
    truncated, edited, deleted = (tmp_path / f"{n}.json" for n in (
        "biot__linear__seed0__fold1", "bandpower__baseline__seed0__fold0", "tangent_space__baseline__seed0__fold1"))
    truncated.write_text(truncated.read_text()[:40])
    stored = json.loads(edited.read_text())
    stored["row"]["score"] = 0.123
    edited.write_text(json.dumps(stored))
    deleted.unlink()
    calls.clear()
    third = run()
    assert sorted(calls) == ["bandpower", "biot", "tangent_space"]
    assert 0.123 not in set(third["score"])
    pd.testing.assert_frame_equal(third.drop(columns=TIMING), first.drop(columns=TIMING))
    assert json.loads(truncated.read_text())["row"]["model"] == "biot"  # rewritten whole


def test_stored_rows_of_another_configuration_are_not_reused(data, tmp_path, monkeypatch):
    calls = count_fits(monkeypatch)
    benchmarking.benchmark([], data, (), cv=GroupKFold(2), baselines=("bandpower",), results_dir=tmp_path)
    calls.clear()
    other = WindowedRecordings(data.X * 2.0, data.y, data.groups, data.sfreq, data.ch_names)
    benchmarking.benchmark([], other, (), cv=GroupKFold(2), baselines=("bandpower",), results_dir=tmp_path)
    assert calls == ["bandpower", "bandpower"]  # other data: same file names, recomputed


@pytest.mark.slow
def test_parallel_rows_equal_sequential_rows(data, tmp_path):
    kwargs = dict(cv=GroupKFold(2), baselines=("bandpower",), model_params=biot_params())
    one = benchmarking.benchmark(["biot"], data, ("full",), n_jobs=1, **kwargs)
    two = benchmarking.benchmark(["biot"], data, ("full",), n_jobs=2, **kwargs)  # worker processes
    assert len(one) == 2 * 2
    pd.testing.assert_frame_equal(one.drop(columns=TIMING), two.drop(columns=TIMING))


def test_bad_arguments_are_refused_before_any_fit(data, monkeypatch):
    calls = count_fits(monkeypatch)
    with pytest.raises(ValueError, match="Unknown strategy 'frozen'"):
        benchmarking.benchmark(["biot"], data, ("frozen",))
    with pytest.raises(ValueError, match="Unknown baseline"):
        benchmarking.benchmark([], data, (), baselines=("psd",))
    with pytest.raises(ValueError, match=r"model_params\['biot'\] has \['max_epoch'\]"):
        benchmarking.benchmark(["biot"], data, ("full",), model_params={"biot": {"max_epoch": 1}})
    with pytest.raises(ValueError, match="not in models"):
        benchmarking.benchmark(["biot"], data, ("full",), model_params={"labram": {}})
    with pytest.raises(ValueError, match="'loso'"):
        benchmarking.benchmark([], data, (), cv="kfold")
    with pytest.raises(ValueError, match="needs data.groups"):
        benchmarking.benchmark([], WindowedRecordings(data.X, data.y, None, data.sfreq, data.ch_names), ())
    with pytest.raises(ValueError, match="attributes X, y, groups"):
        benchmarking.benchmark([], {"X": data.X}, ())
    with pytest.raises(ValueError, match="scorer"):
        benchmarking.benchmark([], data, (), metric="accuracy_of_sorts")
    with pytest.raises(ValueError, match="Nothing to score"):
        benchmarking.benchmark(["biot"], data, (), baselines=())
    with pytest.raises(ValueError, match="Unknown model"):
        benchmarking.benchmark(["nomodel"], data, ("full",))
    assert calls == []


def test_missing_pyriemann_names_the_extra(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyriemann", None)
    with pytest.raises(ImportError, match=r"eegfm_sklearn\[benchmark\]"):
        benchmarking.benchmark([], data, ())
    df = benchmarking.benchmark([], data, (), cv=GroupKFold(2), baselines=("bandpower",))  # still fine without
    assert set(df["model"]) == {"bandpower"}


def test_the_data_digest_reads_the_array_in_place():
    """benchmark() hashed a copy of the whole data set (tobytes) to produce 64 characters."""
    import hashlib
    import tracemalloc

    from eegfm_sklearn.utils.hashing import sha256_array

    X = np.random.default_rng(0).standard_normal((64, 19, 1000)).astype(np.float32)  # 4.9 MB
    for array in (X, X[:, ::2], X.transpose(2, 0, 1)):  # contiguous, then two strided views
        assert sha256_array(array) == hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    tracemalloc.start()
    sha256_array(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < X.nbytes / 50
