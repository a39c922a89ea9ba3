"""A seeded fit gives the same numbers alone, beside other fits in threads, or in processes."""

import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationClassifier, FoundationTransformer
from eegfm_sklearn.utils.cache import CacheWarning, MemoryStore
from eegfm_sklearn.utils.seeding import rng_lock, seeded

from conftest import tiny

NAMES = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
         "T6", "O1", "O2"]


@pytest.fixture(scope="module")
def windows():
    """12 windows of 4 s at 200 Hz (µV) with two classes: plumbing, not learning."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, len(NAMES), 800)).astype(np.float32) * 20
    return X, np.arange(12) % 2


def _embed(model, X, seed, **extra):
    params = tiny(model, sfreq=200, ch_names=NAMES, random_state=seed, **extra)
    return FoundationTransformer(**params).fit(X).transform(X)


def _finetune(model, X, y, seed):
    kwargs = dict(tiny(model)["model_kwargs"])
    if model == "labram":  # LaBraM's tiny config has no dropout; fine-tuning must draw masks
        kwargs.update(drop_prob=0.2, attn_drop_prob=0.2)
    clf = FoundationClassifier(model=model, model_kwargs=kwargs, sfreq=200, ch_names=NAMES, random_state=seed,
                               max_epochs=2, batch_size=4)
    return clf.fit(X, y).predict_proba(X)


def _noise(stop):
    """Unseeded fits and unpickled modules in a loop: they draw from torch's RNG while the seeded fits run."""
    X = np.random.default_rng(1).standard_normal((2, len(NAMES), 800)).astype(np.float32)
    while not stop.is_set():
        est = FoundationTransformer(**tiny("biot", sfreq=200, ch_names=NAMES)).fit(X)
        pickle.loads(pickle.dumps(est.module_))  # rebuilt (randomly initialised), then loaded


@pytest.mark.parametrize("model, pooling", [("biot", None), ("labram", None), ("labram", "mean")])
def test_seeded_transformer_same_in_8_threads(windows, model, pooling):
    X, _ = windows
    alone = {seed: _embed(model, X, seed, pooling=pooling) for seed in (0, 1)}
    assert not np.allclose(alone[0], alone[1])
    stop = threading.Event()
    with ThreadPoolExecutor(9) as pool:
        noise = pool.submit(_noise, stop)
        futures = [(seed, pool.submit(_embed, model, X, seed, pooling=pooling)) for seed in (0, 1) * 4]
        results = [(seed, f.result()) for seed, f in futures]
        stop.set()
        noise.result()
    for seed, emb in results:
        np.testing.assert_array_equal(emb, alone[seed])


@pytest.mark.parametrize("model", ["biot", "labram"])
def test_seeded_finetuning_same_with_joblib_threads(windows, model):
    X, y = windows
    alone = _finetune(model, X, y, 0)
    assert not np.array_equal(alone, _finetune(model, X, y, 1))
    runs = joblib.Parallel(n_jobs=4, backend="threading")(
        joblib.delayed(_finetune)(model, X, y, 0) for _ in range(4))
    for proba in runs:
        np.testing.assert_array_equal(proba, alone)


def _one_thread(fn, *args):
    """``fn(*args)`` with one torch thread: float sums depend on how many threads share them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow  # worker processes
def test_seeded_finetuning_same_in_processes(windows):
    X, y = windows
    alone = _one_thread(_finetune, "biot", X, y, 0)
    runs = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_one_thread)(_finetune, "biot", X, y, 0) for _ in range(2))
    for proba in runs:
        np.testing.assert_array_equal(proba, alone)


def test_threads_fill_one_cache_with_the_seeds_embeddings(windows, tmp_path):
    X, _ = windows
    alone = {seed: _embed("labram", X, seed) for seed in (0, 1)}
    MemoryStore.clear()
    for cache in ("memory", str(tmp_path)):
        with ThreadPoolExecutor(6) as pool:
            futures = [(s, pool.submit(_embed, "labram", X, s, cache=cache)) for s in (0, 1) * 3]
            for seed, f in futures:
                np.testing.assert_array_equal(f.result(), alone[seed])
        # what later readers get from the cache is what each seed gives alone
        for seed in (0, 1):
            np.testing.assert_array_equal(_embed("labram", X, seed, cache=cache), alone[seed])
    MemoryStore.clear()


def test_seeded_restores_the_callers_rng_and_the_lock_is_reentrant():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        inner = torch.rand(3)
        with rng_lock(), seeded(None):  # nested sections in one thread do not deadlock
            torch.rand(1)
    np.testing.assert_array_equal(torch.rand(3), expected)  # the caller's stream continues untouched
    with seeded(7):
        np.testing.assert_array_equal(torch.rand(3), inner)


def test_seeded_pooling_head_rebuilds_identically_from_the_cache(windows, tmp_path):
    X, _ = windows
    first = _embed("labram", X[:6], 0, pooling="flatten", cache=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # a lazy rebuild must match the cached weights
        second = _embed("labram", X, 0, pooling="flatten", cache=str(tmp_path))
    np.testing.assert_array_equal(second[:6], first)
    np.testing.assert_array_equal(second, _embed("labram", X, 0, pooling="flatten"))


@pytest.mark.parametrize("random_state", [None, 0])
def test_unpickling_saving_and_loading_leave_the_global_rng_untouched(tmp_path, random_state):
    import pickle

    from eegfm_sklearn import FoundationTransformer, get_model_card

    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    X = np.random.default_rng(0).standard_normal((4, 6, 400)).astype(np.float32) * 20
    est = FoundationTransformer("biot", sfreq=200, ch_names=names, random_state=random_state,
                                model_kwargs=dict(get_model_card("biot").tiny_kwargs)).fit(X)
    for what, call in (("unpickle", lambda: pickle.loads(pickle.dumps(est))),
                       ("save_pretrained", lambda: est.save_pretrained(tmp_path / "saved")),
                       ("from_pretrained", lambda: FoundationTransformer.from_pretrained(tmp_path / "saved"))):
        torch.manual_seed(123)
        before = torch.get_rng_state()
        call()
        assert torch.equal(torch.get_rng_state(), before), what
