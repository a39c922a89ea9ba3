"""GPU-oriented options, exercised through their CPU fallbacks."""

import pickle
import threading

import numpy as np
import pytest
import torch

from eegfm_sklearn import FoundationClassifier, FoundationTransformer

from conftest import tiny


def _params(data, model="biot", **extra):
    return tiny(model, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, **extra)


def test_bf16_autocast_inference_is_close_to_float32(eegmat_small):
    full = FoundationTransformer(**_params(eegmat_small)).fit(eegmat_small.X).transform(eegmat_small.X)
    half = FoundationTransformer(**_params(eegmat_small, precision="bf16")).fit(eegmat_small.X)
    out = half.transform(eegmat_small.X)
    assert out.dtype == np.float32
    assert np.abs(out - full).max() / np.abs(full).max() < 0.02
    assert not np.array_equal(out, full)  # autocast really ran in bf16


def test_bf16_training_and_fp16_refused(eegmat_small):
    clf = FoundationClassifier(**_params(eegmat_small, precision="bf16", max_epochs=1))
    proba = clf.fit(eegmat_small.X, eegmat_small.y).predict_proba(eegmat_small.X)
    fp32 = FoundationClassifier(**_params(eegmat_small, max_epochs=1)).fit(eegmat_small.X, eegmat_small.y)
    full = fp32.predict_proba(eegmat_small.X)
    assert np.all(np.isfinite(proba)) and not np.array_equal(proba, full)
    # the training steps themselves ran in bf16: the same seeded epoch in float32 ends elsewhere
    trained, reference = clf.module_.state_dict(), fp32.module_.state_dict()
    assert any(not torch.equal(trained[k], reference[k]) for k in trained)
    # the same seeded training at lower precision (bf16 keeps 8 mantissa bits, 0.4 %): 0.0015 measured
    assert np.abs(proba - full).max() < 0.01
    with pytest.raises(ValueError, match="fp16' is for inference.*bf16"):
        FoundationClassifier(**_params(eegmat_small, precision="fp16")).fit(eegmat_small.X, eegmat_small.y)
    with pytest.raises(ValueError, match=r"'precision' parameter of FoundationTransformer must be .*Got 'half'"):
        FoundationTransformer(**_params(eegmat_small, precision="half")).fit(eegmat_small.X)


@pytest.mark.slow
def test_torch_compile_gives_the_same_embeddings_and_pickles(eegmat_small):
    eager = FoundationTransformer(**_params(eegmat_small)).fit(eegmat_small.X)
    compiled = FoundationTransformer(**_params(eegmat_small, compile=True)).fit(eegmat_small.X)
    np.testing.assert_allclose(compiled.transform(eegmat_small.X), eager.transform(eegmat_small.X), atol=1e-4)
    copy = pickle.loads(pickle.dumps(compiled))  # the compiled graph stays behind
    assert copy.__dict__.get("_compiled") is None
    np.testing.assert_allclose(copy.transform(eegmat_small.X[:4]), eager.transform(eegmat_small.X[:4]), atol=1e-4)


def test_accelerator_path_adapts_next_batch_in_background(eegmat_small, monkeypatch):
    # On CUDA the next batch is adapted in a thread while the device computes; here the
    # same code path runs on CPU (forced), and must give the batch-by-batch result.
    est = FoundationTransformer(**_params(eegmat_small, batch_size=5)).fit(eegmat_small.X)
    serial = est.transform(eegmat_small.X)
    threads = []
    adapt = est.adapter_.transform

    def spy(X, **kwargs):
        threads.append(threading.current_thread())
        return adapt(X, **kwargs)

    monkeypatch.setattr(type(est), "_overlap_adapter", lambda self: True)
    monkeypatch.setattr(est.adapter_, "transform", spy)
    overlapped = est.transform(eegmat_small.X)
    np.testing.assert_array_equal(overlapped, serial)
    assert len(threads) == -(-len(eegmat_small.X) // 5)
    assert threading.main_thread() not in threads


def _failing_compile(when):
    """A stand-in for ``torch.compile`` that fails when wrapping or at the first call, counting its calls."""
    calls = []

    def compile_(module, **kwargs):
        if when == "wrap":
            raise RuntimeError("no C++ compiler found")

        class Compiled(torch.nn.Module):  # what torch.compile returns: a module; it compiles when called
            def forward(self, x):
                calls.append(len(x))
                raise RuntimeError("BackendCompilerFailed: inductor failed")

        return Compiled()

    return compile_, calls


@pytest.mark.parametrize("when", ["wrap", "call"])
def test_compile_failure_falls_back_to_eager_with_one_notice(eegmat_small, monkeypatch, when):
    from eegfm_sklearn.utils.compiling import CompileWarning

    eager = FoundationTransformer(**_params(eegmat_small, batch_size=4)).fit(eegmat_small.X)
    expected = eager.transform(eegmat_small.X)
    compile_, calls = _failing_compile(when)
    monkeypatch.setattr(torch, "compile", compile_)
    est = FoundationTransformer(**_params(eegmat_small, batch_size=4, compile=True)).fit(eegmat_small.X)
    assert len(eegmat_small.X) > 4  # several batches: one notice, not one per batch
    with pytest.warns(CompileWarning, match="torch.compile failed for biot .*running the model eagerly") as record:
        first = est.transform(eegmat_small.X)
        second = est.transform(eegmat_small.X)
    assert len([w for w in record if issubclass(w.category, CompileWarning)]) == 1
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    assert calls == ([] if when == "wrap" else [4])  # the compiled graph is not tried again after failing


def test_input_errors_are_not_taken_for_compile_failures():
    from eegfm_sklearn.utils.compiling import CompiledOrEager

    failures = []
    module = torch.nn.Linear(3, 2)
    wrapped = CompiledOrEager(module, failures.append, compiler=lambda m: m)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        wrapped(torch.zeros(1, 5))
    assert failures == [] and not wrapped.failed
