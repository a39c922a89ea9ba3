"""Window policies on real recordings: short trials padded, long trials split and pooled back.

Every registered model (``list_models()``, never a fixed list) takes trials
of 0.25, 0.3, 0.5 and 0.8 s (``window_policy="pad"``) and of 30 and 60 s, up to
ten times its longest window (``window_policy="split"``), on EEGMAT
(500 Hz) and the EEG motor movement/imagery recordings (S001, 160 Hz), with
tiny architectures.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch
from moabb.evaluations import WithinSessionEvaluation
from moabb.paradigms import LeftRightImagery
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback
from test_moabb import CHANNELS, N_SESSIONS, N_SUBJECTS, SFREQ, TRIALS_PER_SESSION, make_dataset, moabb_home  # noqa: F401 (fixture)

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer, get_model_card, list_models
from eegfm_sklearn.backbone import predict_batches
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing.windowing import SplitPlan, pool_subwindows

from conftest import require_data, tiered, tiny

MODELS = list_models()
# The 19 10-20 electrodes as eegmmidb spells them (mne.datasets.eegbci.standardize renames).
MMIDB_19 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz",
            "P4", "P8", "O1", "O2")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _eegmmidb(*runs):
    """S001 runs concatenated: (19, n_times) in µV at 160 Hz, and the Raw of the first run."""
    raws = []
    for run in runs:
        raw = mne.io.read_raw_edf(require_data("eegmmidb", f"S001R{run:02d}.edf"), preload=True, verbose=False)
        mne.datasets.eegbci.standardize(raw)
        raws.append(raw.pick(list(MMIDB_19)))
    return np.concatenate([r.get_data() for r in raws], axis=1) * 1e6, raws[0]


@pytest.fixture(scope="module")
def mmidb():
    return _eegmmidb(1, 2)  # eyes open, eyes closed: 2 x 61 s


def _cut(signal, seconds, sfreq, n_trials):
    """Consecutive trials of ``seconds`` from a (n_chans, n_times) signal."""
    n = int(round(seconds * sfreq))
    if n * n_trials > signal.shape[1]:
        raise AssertionError(f"the recording holds fewer than {n_trials} trials of {seconds} s")
    return np.stack([signal[:, i * n : (i + 1) * n] for i in range(n_trials)])


def _transformer(model, sfreq, ch_names, **kw):
    names = None if ch_names is None else list(ch_names)
    return FoundationTransformer(**tiny(model, sfreq=sfreq, ch_names=names, random_state=0, **kw))


# -- short trials: pad -----------------------------------------------------------
@pytest.mark.parametrize("seconds", [0.25, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("model", tiered(MODELS))
def test_short_eegmat_trials_are_padded_to_the_minimum(eegmat, model, seconds):
    card = get_model_card(model)
    X = eegmat.X[:6, :, : int(round(seconds * eegmat.sfreq))]
    est = _transformer(model, eegmat.sfreq, eegmat.ch_names, window_policy="pad")
    emb = est.fit_transform(X)
    assert emb.shape == (6, est.embedding_size_) and np.all(np.isfinite(emb))
    assert not np.allclose(emb[0], emb[1])  # different trials, different embeddings
    ad = est.adapter_
    real = int(np.ceil(X.shape[-1] * ad.up_ / ad.down_))
    assert est.n_real_samples_ == min(real, ad.n_times_out_)
    assert ad.n_times_out_ >= card.window.min_samples and ad.n_times_out_ % card.window.multiple == 0
    # the shortest length the backbone accepts that holds every real sample
    w = card.window
    assert ad.n_times_out_ == max(w.min_samples, -(-real // w.multiple) * w.multiple)
    Xt, text = ad.transform(X), est.describe_preprocessing()
    if ad.n_times_out_ > real:  # padded: zeros at the end, stated with the real share
        assert np.all(Xt[..., real:] == 0) and np.any(Xt[..., real - 1] != 0)
        assert f"real: {real} of {ad.n_times_out_} samples" in text and "at the end with zeros" in text
        assert ad.real_fraction_ == pytest.approx(real / ad.n_times_out_)
    else:  # already an accepted length (e.g. 0.25 s at 256 Hz = 64 samples): nothing padded, nothing said
        assert np.any(Xt[..., -1] != 0) and ad.real_fraction_ == 1.0
        assert "with zeros" not in text and "real:" not in text


@pytest.mark.parametrize("model", tiered(MODELS))
def test_too_short_error_names_pad_and_the_minimum_in_seconds(eegmat, model):
    card = get_model_card(model)
    minimum = card.window.min_samples / card.sfreq
    n = int(0.9 * minimum * eegmat.sfreq)
    if n < 1:
        pytest.fail(f"{model}'s minimum is below one input sample")
    est = _transformer(model, eegmat.sfreq, eegmat.ch_names)
    with pytest.raises(ValueError, match=rf"too short.*at least {minimum:.2f} s.*window_policy='pad'"):
        est.fit(eegmat.X[:2, :, :n])


@pytest.mark.parametrize("pad_mode", ["edge", "reflect"])
def test_pad_modes_fill_from_the_real_samples(eegmat, pad_mode):
    X = eegmat.X[:3, :, :150]  # 0.3 s -> 60 samples at 200 Hz, padded to 200
    est = _transformer("labram", eegmat.sfreq, eegmat.ch_names, window_policy="pad", pad_mode=pad_mode).fit(X)
    Xt, real = est.adapter_.transform(X), est.n_real_samples_
    assert real == 60 and Xt.shape[-1] == 200
    expected = np.pad(Xt[..., :real], ((0, 0), (0, 0), (0, 200 - real)), mode=pad_mode)
    np.testing.assert_array_equal(Xt, expected)
    assert f"pad_mode={pad_mode!r}" in est.describe_preprocessing()


def test_pad_on_epochs_and_streamed_raw(mmidb):
    signal, raw = mmidb
    # filters=None: a Raw is filtered continuously and Epochs window by window (test_filtering.py)
    est = _transformer("labram", None, None, window_policy="pad", window_seconds=0.5, filters=None)
    # a Raw streamed in 0.5 s windows (80 samples at 160 Hz -> 100 at 200 Hz, padded to 200)
    emb_raw = est.fit(raw).transform(raw)
    n_windows = raw.n_times // 80
    assert emb_raw.shape == (n_windows, est.embedding_size_) and np.all(np.isfinite(emb_raw))
    assert est.n_real_samples_ == 100 and est.adapter_.n_times_out_ == 200
    # the same windows as Epochs (V, names and rate read from the object)
    data = raw.get_data()[:, : n_windows * 80].reshape(len(raw.ch_names), n_windows, 80).transpose(1, 0, 2)
    epochs = mne.EpochsArray(data, raw.info, verbose=False)
    est_epochs = _transformer("labram", None, None, window_policy="pad", filters=None)
    emb_epochs = est_epochs.fit(epochs).transform(epochs)
    assert est_epochs.n_real_samples_ == 100
    # same weights (seed), same windows, same statistics: same embeddings
    np.testing.assert_allclose(emb_epochs, emb_raw, rtol=1e-4, atol=1e-5)


# -- long trials: split ----------------------------------------------------------
@pytest.fixture(scope="module")
def eegmat_long():
    require_data("eegmat", "Subject00_1.edf")
    return {s: load_eegmat(subjects=[0, 1], window_seconds=s, download=False) for s in (30.0, 60.0)}


def _expected_n_sub(card, seconds, limit_seconds):
    """Sub-windows of a trial: the longest accepted length within the limit (a multiple of the card's
    patch, at most its maximum), as many as cover the trial."""
    w = card.window
    longest = limit_seconds * card.sfreq if w.max_samples is None else min(limit_seconds * card.sfreq, w.max_samples)
    longest = int(longest // w.multiple * w.multiple)
    return int(np.ceil(seconds * card.sfreq / longest - 1e-9))


@pytest.mark.parametrize("seconds", [30.0, 60.0])
@pytest.mark.parametrize("model", tiered(MODELS, fast=("labram", "steegformer")))
def test_long_eegmat_trials_give_one_row_per_trial(eegmat_long, model, seconds):
    data = eegmat_long[seconds]
    card = get_model_card(model)
    # the model's own maximum, or 10 s where it has none or a longer one (BENDR's cost grows with length)
    own = None if card.window.max_samples is None else card.window.max_samples / card.sfreq
    kw = {} if own is not None and own <= 15 else {"max_window_seconds": 10.0}
    est = _transformer(model, data.sfreq, data.ch_names, window_policy="split", **kw)
    emb = est.fit_transform(data.X)
    assert emb.shape == (len(data.X), est.embedding_size_) and np.all(np.isfinite(emb))
    ad = est.adapter_
    limit = own if not kw else 10.0
    assert ad.n_sub_ == _expected_n_sub(card, seconds, limit) > 1
    assert ad.n_times_out_ <= limit * card.sfreq
    assert f"-> {ad.n_sub_} sub-windows" in est.describe_preprocessing()


@pytest.mark.parametrize("model", tiered(MODELS, fast=("labram",)))
def test_ten_times_the_longest_window_is_split_and_mean_pooled(model):
    card = get_model_card(model)
    own = None if card.window.max_samples is None else card.window.max_samples / card.sfreq
    limit, kw = (own, {}) if own is not None and own <= 15 else (6.0, {"max_window_seconds": 6.0})
    signal, _ = _eegmmidb(3, 4)  # 2 x 125 s of real and imagined movement
    X = _cut(signal, 10 * limit, 160.0, n_trials=1)
    est = _transformer(model, 160.0, MMIDB_19, window_policy="split", **kw).fit(X)
    emb = est.transform(X)
    assert est.adapter_.n_sub_ == _expected_n_sub(card, 10 * limit, limit) >= 10
    assert emb.shape == (1, est.embedding_size_)
    # the pooled row is the mean of the backbone's rows for the sub-windows
    rows = predict_batches(est.module_, est.adapter_.transform(X), 4)
    assert rows.shape[0] == est.adapter_.n_sub_
    np.testing.assert_allclose(emb[0], rows.mean(0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["max", "concat"])
def test_split_pooling_options(mmidb, pooling):
    signal, _ = mmidb
    X = _cut(signal, 40.0, 160.0, n_trials=2)  # 40 s for LaBraM (15 s max): 3 sub-windows
    est = _transformer("labram", 160.0, MMIDB_19, window_policy="split", split_pooling=pooling).fit(X)
    emb = est.transform(X)
    rows = predict_batches(est.module_, est.adapter_.transform(X), 8).reshape(2, 3, -1)
    expected = rows.max(1) if pooling == "max" else rows.reshape(2, -1)
    assert emb.shape == expected.shape == (2, est.embedding_size_)
    np.testing.assert_allclose(emb, expected, rtol=1e-4, atol=1e-5)


def test_split_overlap_and_last_subwindow_ends_with_the_trial():
    plan = SplitPlan.make(1000, 300, overlap=0.5)
    assert plan.starts == (0, 150, 300, 450, 600, 700) and plan.stride == 150
    X = np.arange(2 * 1 * 1000, dtype=np.float32).reshape(2, 1, 1000)
    cut = plan.cut(X)
    assert cut.shape == (12, 1, 300)
    np.testing.assert_array_equal(cut[5, 0], X[0, 0, 700:])  # last sub-window of trial 0
    np.testing.assert_array_equal(cut[6, 0], X[1, 0, :300])  # first of trial 1
    assert pool_subwindows(np.ones((12, 4)), 6, "concat").shape == (2, 24)


# -- fine-tuning on split trials ---------------------------------------------------
class _Record(Callback):
    """What each training batch fed the loss: inputs and predictions shapes."""

    def __init__(self):
        self.batches = []

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            Xi, yi = batch  # trial indices: the sub-windows are cut batch by batch from them
            self.batches.append((tuple(Xi.shape), tuple(kwargs["y_pred"].shape), len(yi)))


@pytest.mark.parametrize("model", tiered(MODELS, fast=("labram",)))
def test_classifier_fine_tunes_on_split_trials_one_prediction_per_trial(eegmat_long, model):
    data = eegmat_long[30.0]
    record = _Record()
    est = FoundationClassifier(**tiny(model, sfreq=data.sfreq, ch_names=list(data.ch_names), random_state=0,
                                      window_policy="split", max_window_seconds=10.0, max_epochs=1,
                                      batch_size=4, callbacks=[record]))
    X, y = data.X[:4], data.y[:4]  # subject 0: 2 rest, 2 arithmetic trials
    assert set(y) == {"rest", "arithmetic"}
    est.fit(X, y)
    n_sub = est.adapter_.n_sub_
    assert n_sub == _expected_n_sub(get_model_card(model), 30.0, 10.0) >= 3
    for x_shape, pred_shape, n_targets in record.batches:
        assert x_shape == (n_targets,)  # one index per trial
        assert pred_shape == (n_targets, 2)  # the loss sees one prediction per trial
    assert sum(b[2] for b in record.batches) == len(y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    assert est.predict(X).shape == (len(X),)


@pytest.mark.slow
def test_regressor_fine_tunes_on_split_trials(eegmat_long):
    data = eegmat_long[60.0]
    y = np.linspace(0, 1, len(data.X))
    est = FoundationRegressor(**tiny("labram", sfreq=data.sfreq, ch_names=list(data.ch_names), random_state=0,
                                     window_policy="split", split_pooling="max", max_epochs=2, batch_size=2))
    pred = est.fit(data.X, y).predict(data.X)
    assert est.adapter_.n_sub_ == 4 and pred.shape == y.shape and np.all(np.isfinite(pred))
    assert np.all(np.isfinite(est.history_[:, "train_loss"]))


def test_fine_tuning_refuses_concat_pooling(eegmat_long):
    data = eegmat_long[30.0]
    est = FoundationClassifier(**tiny("labram", sfreq=data.sfreq, ch_names=list(data.ch_names),
                                      window_policy="split", split_pooling="concat"))
    with pytest.raises(ValueError, match="split_pooling='concat' is for FoundationTransformer"):
        est.fit(data.X, data.y)


# -- parameters --------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"window_policy": "stretch"},
     r"'window_policy' parameter of FoundationTransformer must be a str among .*'split'.*Got 'stretch'"),
    ({"window_policy": "pad", "pad_mode": "wrap"}, r"'pad_mode' parameter .* Got 'wrap'"),
    ({"window_policy": "split", "split_pooling": "median"}, r"'split_pooling' parameter .* Got 'median'"),
    ({"window_policy": "split", "max_window_seconds": -1}, r"'max_window_seconds' parameter .* Got -1"),
    ({"window_policy": "split", "max_window_seconds": "10"}, r"'max_window_seconds' parameter .* Got '10'"),
    ({"window_policy": "crop", "max_window_seconds": 5.0}, r"sets where window_policy='split' cuts"),
    ({"window_policy": "split", "split_overlap": 1.0}, r"'split_overlap' parameter .* range \[0\.0, 1\.0\)\. Got 1\.0"),
    ({"window_policy": "split", "max_window_seconds": 0.1}, r"below labram's minimum window"),
])
def test_bad_window_params_are_clear_errors_and_stored_untouched(eegmat, params, message):
    est = _transformer("labram", eegmat.sfreq, eegmat.ch_names, **params)
    assert {k: est.get_params()[k] for k in params} == params
    assert clone(est).get_params()["window_policy"] == params["window_policy"]
    with pytest.raises(ValueError, match=message):
        est.fit(eegmat.X[:2])


@pytest.mark.slow
def test_split_estimator_saves_and_restores(tmp_path, eegmat_long):
    data = eegmat_long[30.0]
    est = _transformer("labram", data.sfreq, data.ch_names, window_policy="split", split_overlap=0.25,
                       split_pooling="max").fit(data.X)
    est.save_pretrained(tmp_path / "est")
    back = FoundationTransformer.from_pretrained(tmp_path / "est")
    assert back.adapter_.split_ == est.adapter_.split_
    np.testing.assert_allclose(back.transform(data.X), est.transform(data.X), rtol=1e-5, atol=1e-6)


# -- MOABB: 0.5 s epochs --------------------------------------------------------------
@pytest.mark.parametrize("model", tiered(MODELS, fast=("biot",)))
def test_moabb_evaluation_on_half_second_epochs(model, moabb_home):
    # offline FakeDataset (see test_moabb.py), motor imagery epochs of 0.5 s: below every
    # model's minimum, padded
    paradigm = LeftRightImagery(resample=SFREQ, channels=list(CHANNELS), tmin=0.0, tmax=0.5)
    X, _, _ = paradigm.get_data(make_dataset(), subjects=[1])
    assert X.shape[-1] == int(0.5 * SFREQ) + 1
    est = FoundationTransformer(**tiny(model, sfreq=SFREQ, ch_names=list(CHANNELS), window_policy="pad",
                                       random_state=0))
    evaluation = WithinSessionEvaluation(paradigm=paradigm, datasets=[make_dataset()], overwrite=True,
                                         random_state=0, hdf5_path=str(moabb_home), n_splits=2)
    results = evaluation.process({f"{model}-pad": make_pipeline(est, LogisticRegression(max_iter=200))})
    assert len(results) == N_SUBJECTS * N_SESSIONS
    scores = results["score"].to_numpy(dtype=float)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    assert set(results["samples"]) == {TRIALS_PER_SESSION}
    assert clone(est).fit(X).adapter_.real_fraction_ < 1  # the epochs were padded


@pytest.mark.parametrize("split_pooling", ["mean", "concat"])
def test_long_split_trials_are_cut_and_embedded_a_batch_of_subwindows_at_a_time(monkeypatch, split_pooling):
    """19 sub-windows per trial, batch_size=4: never more than 4 adapted at once, the same embeddings."""
    import eegfm_sklearn.preprocessing.adapter as adapter_module

    names = CHANNELS[:8] if len(CHANNELS) >= 8 else CHANNELS
    X = np.random.default_rng(0).standard_normal((3, len(names), 2000)).astype(np.float32) * 20
    params = tiny("labram", sfreq=200, ch_names=list(names), window_policy="split", max_window_seconds=1.0,
                  split_overlap=0.5, split_pooling=split_pooling, random_state=0)
    whole = FoundationTransformer(**params, batch_size=64).fit(X)
    assert whole.adapter_.n_sub_ == 19
    expected = whole.transform(X)
    sizes = []
    original = adapter_module.InputAdapter.transform

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        sizes.append(len(out))
        return out

    monkeypatch.setattr(adapter_module.InputAdapter, "transform", spy)
    monkeypatch.setattr(adapter_module, "SPLIT_BUDGET_BYTES", 3 * len(names) * 200 * 4)  # fit: 3 at a time too
    est = FoundationTransformer(**params, batch_size=4).fit(X)
    sizes.clear()
    np.testing.assert_allclose(est.transform(X), expected, atol=1e-5)
    assert max(sizes) <= 4
    assert est.embedding_size_ == expected.shape[1]


def test_fine_tuning_on_split_trials_cuts_and_forwards_a_batch_of_subwindows_at_a_time(monkeypatch):
    """19 sub-windows per trial, batch_size=4: never more than 4 adapted or forwarded at once in fit."""
    import eegfm_sklearn.backbone as backbone_module
    import eegfm_sklearn.preprocessing.adapter as adapter_module

    names = list(CHANNELS[:8])
    X = np.random.default_rng(0).standard_normal((6, len(names), 2000)).astype(np.float32) * 20
    adapted, forwarded = [], []
    transform, forward = adapter_module.InputAdapter.transform, backbone_module.CardModule.forward

    def spy_transform(self, *args, **kwargs):
        out = transform(self, *args, **kwargs)
        adapted.append(len(out))
        return out

    def spy_forward(self, x):
        forwarded.append(x.shape[0] * (x.shape[1] if x.ndim == 4 else 1))
        return forward(self, x)

    monkeypatch.setattr(adapter_module.InputAdapter, "transform", spy_transform)
    monkeypatch.setattr(backbone_module.CardModule, "forward", spy_forward)
    est = FoundationClassifier(**tiny("labram", sfreq=200, ch_names=names, window_policy="split",
                                      max_window_seconds=1.0, split_overlap=0.5, random_state=0, max_epochs=1,
                                      batch_size=4))
    est.fit(X, [0, 1, 0, 1, 0, 1])
    assert est.adapter_.n_sub_ == 19
    assert adapted and forwarded  # the spies saw the training
    assert max(adapted) <= 4 and max(forwarded) <= 4
    assert est.predict_proba(X).shape == (6, 2)


def test_split_training_chunks_give_the_gradient_of_the_whole_batch():
    """Sub-windows forwarded 3 at a time (recomputed in backward) or all at once: the same gradients."""
    from eegfm_sklearn.estimators.split_training import SplitTrialsModule, prefilter, window_chunks

    assert window_chunks(5, 19, 4) == [(slice(t, t + 1), slice(a, a + 4)) for t in range(5) for a in range(0, 19, 4)]
    assert window_chunks(5, 2, 4) == [(slice(0, 2), slice(None)), (slice(2, 4), slice(None)),
                                      (slice(4, 6), slice(None))]
    names = list(CHANNELS[:8])
    X = np.random.default_rng(1).standard_normal((3, len(names), 2000)).astype(np.float32) * 20
    est = FoundationClassifier(**tiny("labram", sfreq=200, ch_names=names, window_policy="split",
                                      max_window_seconds=1.0, split_overlap=0.5, random_state=0, max_epochs=1))
    est.fit(X, [0, 1, 0])
    module = est.module_.eval()  # no dropout: both runs compute the same function
    idx = torch.tensor([2, 0, 1])
    with torch.no_grad():  # the module's own path: all sub-windows of the trials at once
        Xt = torch.from_numpy(est.adapter_.transform(X[[2, 0, 1]]))
        expected = module(Xt.reshape(3, est.adapter_.n_sub_, *Xt.shape[1:]))
    weight = torch.linspace(-1, 2, 6).reshape(3, 2)  # a loss that tells the trials and outputs apart
    grads = []
    for max_windows in (3, 1000):
        module.zero_grad()
        out = SplitTrialsModule(module, est.adapter_, X, max_windows)(idx)
        torch.testing.assert_close(out.detach(), expected, rtol=1e-4, atol=1e-5)
        (out * weight).sum().backward()
        grads.append({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    # the trials filtered once up front (what fit does): the same outputs
    assert est.adapter_.filter_plan_.active
    with torch.no_grad():
        once = SplitTrialsModule(module, est.adapter_, prefilter(est.adapter_, X), 3, prefiltered=True)(idx)
    torch.testing.assert_close(once, expected, rtol=1e-4, atol=1e-5)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_split_training_does_not_recompute_a_backbone_with_batch_norm():
    """Recomputing a chunk in backward would update batch-norm running statistics a second time."""
    from eegfm_sklearn.estimators.split_training import SplitTrialsModule, window_chunks

    class WithBatchNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.head = torch.nn.LazyBatchNorm1d(), torch.nn.LazyLinear(2)

        def forward(self, x):  # (n, chans, times) -> (n, 2)
            return self.head(self.norm(x)).mean(1)

        def pool_trials(self, out, n_sub):
            return out.reshape(-1, n_sub, out.shape[-1]).mean(1)

    names = list(CHANNELS[:8])
    X = np.random.default_rng(1).standard_normal((3, len(names), 2000)).astype(np.float32) * 20
    est = FoundationTransformer(**tiny("labram", sfreq=200, ch_names=names, window_policy="split",
                                       max_window_seconds=1.0, split_overlap=0.5)).fit(X)
    module = WithBatchNorm().train()
    with torch.no_grad():
        module(torch.from_numpy(est.adapter_.transform(X[:1], part=slice(0, 1))))  # materialise the lazy layers
    module.norm.reset_running_stats()
    n_chunks = len(window_chunks(3, est.adapter_.n_sub_, 3))
    assert n_chunks > 1
    SplitTrialsModule(module, est.adapter_, X, 3)(torch.arange(3)).sum().backward()
    assert int(module.norm.num_batches_tracked) == n_chunks  # each chunk's statistics counted once


def test_split_overlap_that_repeats_each_sample_thousands_of_times_is_refused():
    X = np.zeros((2, 4, 60 * 200), dtype=np.float32)
    est = FoundationTransformer(**tiny("labram", sfreq=200, ch_names=["Fp1", "Fp2", "C3", "C4"],
                                       window_policy="split", split_overlap=0.9999))
    with pytest.raises(ValueError, match=r"split_overlap=0.9999 steps sub-windows of 3000 samples by 1: each "
                                         r"sample would be embedded 3000 times \(9001 sub-windows.*<= 0.99"):
        est.fit(X)
