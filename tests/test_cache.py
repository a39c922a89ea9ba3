"""Embedding cache: computed once across folds, never stale, process-safe, self-checking."""

import contextlib
import errno
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import joblib
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

import eegfm_sklearn.estimators.base as base_module
import eegfm_sklearn.estimators.transformer as transformer_module
import eegfm_sklearn.utils.cache as cache_module
from eegfm_sklearn import FoundationTransformer
from eegfm_sklearn.backbone import CardModule
from eegfm_sklearn.utils.cache import CacheWarning, DirectoryStore, MemoryStore

from conftest import tiny


@pytest.fixture(autouse=True)
def _empty_memory_cache():
    MemoryStore.clear()
    yield
    MemoryStore.clear()


@pytest.fixture
def counters(monkeypatch):
    """Count windows sent through a backbone and backbones built."""
    counts = {"windows": 0, "builds": 0}
    real_predict, real_init = transformer_module.predict_batches, CardModule.__init__

    def predict(module, X, *a, **k):
        counts["windows"] += len(X)
        return real_predict(module, X, *a, **k)

    def init(self, *a, **k):
        counts["builds"] += 1
        real_init(self, *a, **k)

    monkeypatch.setattr(transformer_module, "predict_batches", predict)
    monkeypatch.setattr(base_module, "predict_batches", predict)
    monkeypatch.setattr(CardModule, "__init__", init)
    return counts


def _pipe(data, **extra):
    params = tiny("labram", sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, **extra)
    return make_pipeline(FoundationTransformer(**params), LogisticRegression())


def test_each_window_embedded_once_across_folds(eegmat_small, counters):
    eegmat = eegmat_small
    cv = GroupKFold(4)
    cached = cross_val_score(_pipe(eegmat, cache="memory"), eegmat.X, eegmat.y, groups=eegmat.groups, cv=cv)
    n = len(eegmat.X)
    # one pass over the data + a one-window probe to learn the embedding size; one backbone built
    assert counters == {"windows": n + 1, "builds": 1}
    plain = cross_val_score(_pipe(eegmat), eegmat.X, eegmat.y, groups=eegmat.groups, cv=cv)
    np.testing.assert_allclose(cached, plain, atol=1e-6)
    assert counters["windows"] > 4 * n  # without a cache: every fold embeds train + test again


def test_a_different_configuration_never_reads_stale_embeddings(eegmat_small):
    X = eegmat_small.X
    base = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0, cache="memory")
    first = FoundationTransformer(**base).fit(X).transform(X)
    same = FoundationTransformer(**base).fit(X).transform(X)
    np.testing.assert_array_equal(first, same)
    reseeded = FoundationTransformer(**{**base, "random_state": 1}).fit(X).transform(X)
    assert not np.allclose(first, reseeded)
    bigger = FoundationTransformer(**{**base, "model_kwargs": {"num_layers": 2, "num_heads": 2}})
    assert not np.allclose(first, bigger.fit(X).transform(X))
    subset = FoundationTransformer(**{**base, "ch_names": eegmat_small.ch_names[:10]}).fit(X[:, :10])
    assert not np.allclose(first, subset.transform(X[:, :10]))
    unseeded = {**base, "random_state": None}
    a = FoundationTransformer(**unseeded).fit(X).transform(X)
    b = FoundationTransformer(**unseeded).fit(X).transform(X)
    assert not np.allclose(a, b)  # fresh random weights each fit: nothing shared


def test_cached_values_equal_uncached(eegmat_small):
    params = tiny("bendr", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0)
    plain = FoundationTransformer(**params).fit(eegmat_small.X).transform(eegmat_small.X)
    cached = FoundationTransformer(**params, cache="memory").fit(eegmat_small.X)
    np.testing.assert_allclose(cached.transform(eegmat_small.X), plain, atol=1e-5)
    np.testing.assert_allclose(cached.transform(eegmat_small.X[::-1]), plain[::-1], atol=1e-5)


@pytest.mark.slow
def test_directory_cache_with_process_parallel_folds(eegmat_small, tmp_path):
    cv = GroupKFold(2)
    args = (eegmat_small.X, eegmat_small.y)
    parallel = cross_val_score(_pipe(eegmat_small, cache=str(tmp_path)), *args, groups=eegmat_small.groups,
                               cv=cv, n_jobs=2)
    files = list(tmp_path.glob("*/*.emb"))
    assert len(files) == len(eegmat_small.X)  # one file per window, however many workers wrote
    assert not list(tmp_path.glob("*/*.tmp"))
    again = cross_val_score(_pipe(eegmat_small, cache=str(tmp_path)), *args, groups=eegmat_small.groups, cv=cv)
    plain = cross_val_score(_pipe(eegmat_small), *args, groups=eegmat_small.groups, cv=cv)
    np.testing.assert_allclose(parallel, plain, atol=1e-6)
    np.testing.assert_allclose(again, plain, atol=1e-6)


def test_fit_from_cache_builds_nothing_until_a_miss(eegmat_small, counters):
    params = tiny("labram", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names, random_state=0,
                  cache="memory")
    half = len(eegmat_small.X) // 2
    FoundationTransformer(**params).fit(eegmat_small.X).transform(eegmat_small.X[:half])
    assert counters["builds"] == 1
    est = FoundationTransformer(**params).fit(eegmat_small.X)
    est.transform(eegmat_small.X[:half])
    assert counters["builds"] == 1 and "module_" not in vars(est)
    est.transform(eegmat_small.X)  # a miss: built now, once
    assert counters["builds"] == 2
    assert est.backbone_ is est.module_.backbone


def test_bad_cache_value(eegmat_small):
    est = FoundationTransformer(**tiny("biot", sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                                       cache=3))
    with pytest.raises(ValueError, match=r"'cache' parameter of FoundationTransformer must be None.*Got 3"):
        est.fit(eegmat_small.X)


# -- a cache that checks itself ------------------------------------------------
NAMES = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
         "T6", "O1", "O2"]


@pytest.fixture(scope="module")
def windows():
    """10 synthetic 4 s windows at 200 Hz (µV): plumbing."""
    return np.random.default_rng(0).standard_normal((10, len(NAMES), 800)).astype(np.float32) * 20


def _encoder(**extra):
    return FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES, random_state=0, **extra))


def _entries(folder):
    return sorted(folder.glob("*/*.emb"))


@pytest.mark.parametrize("damage", ["truncate", "empty", "zeros", "nan_valid_format", "edited_value"])
def test_damaged_entry_is_reported_once_removed_and_recomputed(windows, tmp_path, damage):
    plain = _encoder().fit(windows).transform(windows)
    _encoder(cache=str(tmp_path)).fit(windows).transform(windows)
    files = _entries(tmp_path)
    assert len(files) == len(windows)
    victim = files[3]
    blob = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "zeros":
        victim.write_bytes(bytes(len(blob)))
    elif damage == "nan_valid_format":  # right header and checksum, values NaN
        victim.write_bytes(cache_module._encode(np.full(len(plain[0]), np.nan, np.float32)))
    else:  # one value changed in place (right length, stale checksum)
        victim.write_bytes(blob[:-4] + b"\x00\x00\x80\x3f")
    est = _encoder(cache=str(tmp_path)).fit(windows)
    with pytest.warns(CacheWarning, match="1 cache entries under .* were damaged.*1 removed, all recomputed"):
        first = est.transform(windows)
    np.testing.assert_allclose(first, plain, atol=1e-6)
    assert victim.read_bytes() != b"" and cache_module._decode(victim.read_bytes(), plain[0].shape) is not None
    with no_cache_warning():  # repaired: not reported again
        np.testing.assert_array_equal(est.transform(windows), first)


@contextlib.contextmanager
def no_cache_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        yield


@pytest.mark.parametrize("damage", ["garbage", "edited_value", "empty"])
def test_corrupt_meta_is_detected_and_rebuilt(windows, tmp_path, damage, counters):
    plain = _encoder().fit(windows).transform(windows)
    _encoder(cache=str(tmp_path)).fit(windows).transform(windows)
    assert counters["builds"] == 2
    meta = next(tmp_path.glob("*/meta.json"))
    record = json.loads(meta.read_text())
    if damage == "garbage":
        meta.write_text("{not json")
    elif damage == "edited_value":  # valid JSON, believable number, stale checksum
        record["meta"]["embedding_size"] = 7
        meta.write_text(json.dumps(record))
    else:
        meta.write_text("")
    with pytest.warns(CacheWarning, match="meta.json is corrupt.*rebuilt"):
        est = _encoder(cache=str(tmp_path)).fit(windows)
    assert counters["builds"] == 3  # the fit could not trust the meta: it built the backbone
    assert est.embedding_size_ == plain.shape[1]
    np.testing.assert_array_equal(est.transform(windows), plain)
    assert json.loads(meta.read_text())["meta"]["embedding_size"] == plain.shape[1]


def test_weights_identified_by_content_not_size_and_mtime(windows, tmp_path):
    folder = _encoder().fit(windows).save_pretrained(tmp_path / "weights")
    path = folder / "model.safetensors"
    state = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    before = os.stat(path)
    cached = FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES, weights=str(folder), cache="memory"))
    old = cached.fit(windows).transform(windows)
    name = next(k for k, v in state.items() if v.ndim == 2 and "final_layer" not in k)
    state[name] = state[name] * 0.5  # same shapes: same file size
    save_file(state, path, metadata=metadata)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    fresh = FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES, weights=str(folder)))
    expected = fresh.fit(windows).transform(windows)
    assert not np.allclose(expected, old)
    again = FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES, weights=str(folder), cache="memory"))
    np.testing.assert_array_equal(again.fit(windows).transform(windows), expected)


def test_weights_read_once_per_fit_even_when_the_build_waits_for_a_miss(windows, tmp_path, monkeypatch):
    folder = _encoder().fit(windows).save_pretrained(tmp_path / "weights")
    made = partial(FoundationTransformer, **tiny("biot", sfreq=200, ch_names=NAMES, weights=str(folder),
                                                 cache="memory"))
    expected = made().fit(windows).transform(windows)  # fills the cache's meta: the next fit builds nothing
    reads = []
    real = base_module.FoundationEstimatorBase._resolve_weights
    monkeypatch.setattr(base_module.FoundationEstimatorBase, "_resolve_weights",
                        lambda self: reads.append(1) or real(self))
    est = made().fit(windows)
    assert "module_" not in vars(est) and len(reads) == 1
    fresh = windows + 1.0  # misses: the backbone is built now, from the tensors read in fit
    np.testing.assert_array_equal(est.transform(fresh), made().set_params(cache=None).fit(windows).transform(fresh))
    assert len(reads) == 2  # the second read is the uncached estimator's fit
    np.testing.assert_array_equal(est.transform(windows), expected)


def test_unpickled_estimator_refuses_weights_changed_since_fit(windows, tmp_path):
    folder = _encoder().fit(windows).save_pretrained(tmp_path / "weights")
    made = partial(FoundationTransformer, **tiny("biot", sfreq=200, ch_names=NAMES, weights=str(folder),
                                                 cache="memory"))
    made().fit(windows).transform(windows[:1])
    est = made().fit(windows)
    assert "module_" not in vars(est)
    blob = joblib.dump(est, tmp_path / "est.joblib")[0]
    path = folder / "model.safetensors"
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    state = load_file(path)
    name = next(k for k, v in state.items() if v.ndim == 2 and "final_layer" not in k)
    state[name] = state[name] * 0.5
    save_file(state, path, metadata=metadata)
    # its cache key names the fit-time content: building from the new file would store other embeddings under it
    with pytest.raises(ValueError, match="changed since fit.*call fit again"):
        joblib.load(blob).transform(windows + 1.0)


@pytest.mark.parametrize("error", [PermissionError(errno.EACCES, "Permission denied"),
                                   OSError(errno.ENOSPC, "No space left on device")], ids=["read-only", "full"])
def test_unwritable_folder_warns_once_and_still_serves_and_computes(windows, tmp_path, monkeypatch, error):
    plain = _encoder().fit(windows).transform(windows)
    _encoder(cache=str(tmp_path)).fit(windows[:5]).transform(windows[:5])
    before = _entries(tmp_path)

    def refuse(*args, **kwargs):  # as a read-only or full file system answers (tests may run as root)
        raise error

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", refuse)
    est = _encoder(cache=str(tmp_path)).fit(windows)
    with pytest.warns(CacheWarning, match=f"Cannot write to the cache folder .*{error.strerror}.*computed without it"):
        out = est.transform(windows)
    np.testing.assert_allclose(out, plain, atol=1e-6)  # 5 read back, 5 computed
    assert _entries(tmp_path) == before
    with no_cache_warning():  # once per folder
        np.testing.assert_allclose(est.transform(windows[::-1]), plain[::-1], atol=1e-6)


def test_folder_under_a_file_falls_back_and_a_file_is_refused(windows, tmp_path):
    plain = _encoder().fit(windows).transform(windows)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.warns(CacheWarning, match="Cannot write to the cache folder"):
        out = _encoder(cache=str(blocker / "cache")).fit(windows).transform(windows)
    np.testing.assert_allclose(out, plain, atol=1e-6)
    with pytest.raises(ValueError, match="is a file, not a folder"):
        _encoder(cache=str(blocker)).fit(windows)


def test_memory_cache_is_bounded_least_recently_used_first():
    store = MemoryStore(max_bytes=3 * MemoryStore._size("k0", np.zeros(100, np.float32)))
    rows = np.arange(500, dtype=np.float32).reshape(5, 100)
    store.put_many("c", ["k0", "k1", "k2"], rows[:3])
    assert [v is not None for v in store.get_many("c", ["k0"], (100,))] == [True]  # k0 is now the most recent
    store.put_many("c", ["k3"], rows[3:4])
    found = store.get_many("c", ["k0", "k1", "k2", "k3"], (100,))
    assert [v is not None for v in found] == [True, False, True, True]  # k1 was least recently used
    np.testing.assert_array_equal(found[3], rows[3])
    assert MemoryStore.nbytes() <= store.max_bytes
    with pytest.raises(ValueError, match="cache_max_bytes must be an int >= 0"):
        cache_module.get_store("memory", -1)


def test_unseeded_memory_cache_stays_under_its_bound(windows):
    one = MemoryStore._size("0" * 32, np.zeros(_encoder().fit(windows[:1]).embedding_size_, np.float32))
    bound = 25 * one  # two and a half fits' worth of windows
    for _ in range(4):  # each unseeded fit is a new configuration: it used to grow without bound
        FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES, cache="memory",
                                     cache_max_bytes=bound)).fit(windows).transform(windows)
        assert 0 < MemoryStore.nbytes() <= bound
    assert MemoryStore.nbytes() > bound - one  # filled up to the bound, not emptied


def test_mixed_up_weights_are_detected_and_the_cache_turned_off(windows, tmp_path):
    plain = _encoder().fit(windows).transform(windows)
    _encoder(cache=str(tmp_path)).fit(windows[:5]).transform(windows[:5])
    key = next(tmp_path.iterdir()).name
    store = DirectoryStore(tmp_path)
    store.put_meta(key, {**store.get_meta(key), "weights_fingerprint": "0" * 32})  # as if built from other weights
    est = _encoder(cache=str(tmp_path)).fit(windows)
    with pytest.warns(CacheWarning, match="differs from the one whose embeddings fill the cache"):
        out = est.transform(windows)
    np.testing.assert_allclose(out, plain, atol=1e-6)
    assert est.cache_key_ is None


def _fill(folder, X):
    return _encoder(cache=folder).fit(X).transform(X)


@pytest.mark.slow  # worker processes
def test_two_threads_and_two_processes_write_one_folder(windows, tmp_path):
    plain = _encoder().fit(windows).transform(windows)
    for name, run in [("threads", lambda f: list(ThreadPoolExecutor(2).map(_fill, [f, f], [windows, windows]))),
                      ("processes", lambda f: joblib.Parallel(n_jobs=2, backend="loky")(
                          joblib.delayed(_fill)(f, windows) for _ in range(2)))]:
        folder = tmp_path / name
        for out in run(str(folder)):
            np.testing.assert_allclose(out, plain, atol=1e-6)
        files = _entries(folder)
        assert len(files) == len(windows) and not list(folder.glob("*/*.tmp"))
        stored = [cache_module._decode(f.read_bytes(), plain[0].shape) for f in files]
        assert all(v is not None for v in stored)  # every file intact, whichever writer won
        with no_cache_warning():
            np.testing.assert_allclose(_fill(str(folder), windows), plain, atol=1e-6)


@pytest.mark.parametrize("change", [{"pooling": "flatten"}, {"split_pooling": "max"}])
def test_params_set_after_a_cache_served_fit_key_what_is_computed(windows, tmp_path, change):
    """fit (cache hit) -> set_params -> transform: embeddings of the new params, stored under their own key."""
    folder = _encoder().fit(windows).save_pretrained(tmp_path / "weights")  # pretrained: no fingerprint check
    base = {"sfreq": 200, "ch_names": NAMES, "weights": str(folder), "pooling": "mean",
            "window_policy": "split", "max_window_seconds": 2.0}

    def made(**kw):
        return FoundationTransformer(**tiny("biot", **{**base, **kw}))

    expected = {name: made(**kw).fit(windows).transform(windows) for name, kw in
                (("before", {}), ("after", change))}
    before, after = expected["before"], expected["after"]
    assert before.shape != after.shape or not np.allclose(before, after)
    made(cache="memory").fit(windows).transform(windows[:1])  # the meta: the next fit is served from the cache
    est = made(cache="memory").fit(windows)
    assert "module_" not in est.__dict__
    est.set_params(**change)
    np.testing.assert_allclose(est.transform(windows), expected["after"], atol=1e-5)
    # the cache still serves what its key says: a new estimator with the old params gets the old embeddings
    np.testing.assert_allclose(made(cache="memory").fit(windows).transform(windows), expected["before"], atol=1e-5)
    # and one built with the new params from the start agrees with the cache's entries
    np.testing.assert_allclose(made(cache="memory", **change).fit(windows).transform(windows),
                               expected["after"], atol=1e-5)


def test_params_set_after_fit_without_cache_apply_or_ask_for_a_refit(windows, tmp_path):
    est = _encoder(pooling="mean").fit(windows)
    flat = _encoder(pooling="flatten").fit(windows).transform(windows)
    est.set_params(pooling="flatten")
    np.testing.assert_allclose(est.transform(windows), flat, atol=1e-5)
    assert est.embedding_size_ == flat.shape[1]
    folder = _encoder().fit(windows).save_pretrained(tmp_path / "weights")
    with pytest.raises(ValueError, match="weights changed since fit.*call fit again"):
        est.set_params(weights=str(folder)).transform(windows)


def test_cache_folder_in_the_home_folder(windows, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    _encoder(cache="~/emb-cache").fit(windows[:2]).transform(windows[:2])
    assert _entries(tmp_path / "home" / "emb-cache") and not (tmp_path / "~").exists()
