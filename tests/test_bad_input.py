"""Every kind of bad input gets a clear error (or warning) that names the problem.

One table, one row per bad input: what to run, the exception or warning
class expected, and words its message must contain (the problem and, where
there is one, the fix). Plumbing only: small synthetic windows from
``conftest.make_synthetic`` and tiny model configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mne
import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer

from conftest import tiny


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable  # run(data, tmp_path)
    expect: type  # an Exception subclass (raised) or a Warning subclass (warned)
    match: str  # re.search pattern the message must contain


def _params(data, arch, **params):
    """Tiny ``arch`` for ``data``, then ``params`` (a bad ``model=`` replaces the tiny one's name)."""
    base = tiny(arch, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0)
    return {**base, **params}


def T(data, arch="biot", **params):
    """A tiny transformer for ``data`` (numpy input)."""
    return FoundationTransformer(**_params(data, arch, **params))


def C(data, arch="biot", **params):
    return FoundationClassifier(**_params(data, arch, **{"max_epochs": 1, **params}))


def R(data, arch="biot", **params):
    return FoundationRegressor(**_params(data, arch, **{"max_epochs": 1, **params}))


def _param(name, value, make=T):
    """A case: ``make(data, name=value).fit`` must name the parameter and the accepted values."""
    def run(d, tmp_path):
        est = make(d, **{name: value})
        return est.fit(d.X) if make is T else est.fit(d.X, d.y if make is C else np.arange(len(d.X), dtype=float))
    return Case(f"{make.__name__}-{name}={value!r}", run, ValueError, rf"'{name}' parameter of \w+ must be.*Got")


def _epochs(d):
    info = mne.create_info(list(d.ch_names), d.sfreq, "eeg")
    return mne.EpochsArray(d.X * 1e-6, info, verbose=False)


def _with(d, index, value, dtype=None):
    X = d.X.astype(dtype or d.X.dtype, copy=True)
    X[index] = value
    return X


def _saved_backbone(d, tmp_path, edit):
    """A weights folder holding a tiny BIOT backbone whose state dict went through ``edit``."""
    from safetensors.torch import save_file

    state = {k: v.clone().contiguous() for k, v in T(d).fit(d.X).backbone_.state_dict().items()}
    edit(state)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model": "biot"}')
    return str(folder)


def _nan_tensor(state):
    key = next(k for k in state if k.startswith("encoder.") and state[k].is_floating_point())
    state[key][..., 0] = float("nan")


def _int_tensor(state):
    key = next(k for k in state if k.startswith("encoder.") and state[k].is_floating_point())
    state[key] = (state[key] * 100).to(dtype=__import__("torch").int32)


def _random_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return str(path)


def _eeg2meg_short(d, tmp_path):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 4, 5)) * 1e-5, rng.normal(size=(8, 3, 5)) * 1e-12
    EEGToMEGRegressor(seg_len=10, d_model=8, n_heads=2, max_epochs=1).fit(X, Y)


PARAM_CASES = [
    _param("sfreq", 0), _param("sfreq", -250.0), _param("sfreq", float("nan")), _param("sfreq", float("inf")),
    _param("sfreq", "250"),
    _param("ch_names", [1, 2, 3]), _param("ch_names", "Fp1,Fp2"), _param("ch_names", [None] * 19),
    _param("batch_size", 0), _param("batch_size", -4), _param("batch_size", 2.5),
    _param("units", "volts"), _param("units", None),
    _param("missing_channels", "nearest"), _param("window_policy", "stretch"),
    _param("precision", "fp8"), _param("compile", "yes"),
    _param("random_state", -1), _param("random_state", 1.5), _param("random_state", "0"),
    _param("model", 3), _param("model_kwargs", [1]), _param("verbose", "loud"), _param("montage", 5),
    _param("cache", 3), _param("pooling", "max"), _param("window_seconds", 0.0), _param("window_seconds", -2.0),
    _param("stride_seconds", 0.0), _param("weights", 3),
    _param("max_epochs", -1, C), _param("lr", 0.0, C), _param("lr", -1e-3, C), _param("lr", float("nan"), C),
    _param("weight_decay", -0.1, C), _param("finetune", "half", C), _param("n_unfrozen_blocks", -1, C),
    _param("layer_decay", 0.0, C), _param("layer_decay", 1.5, C), _param("lora_rank", 0, C),
    _param("lr_schedule", "linear", C), _param("warmup_epochs", -1, C), _param("max_grad_norm", 0.0, C),
    _param("validation_fraction", 1.0, C), _param("n_iter_no_change", 0, C), _param("class_weight", "auto", C),
    _param("keep_head", "yes", C), _param("early_stopping", 2, C), _param("accelerate", "no", C),
    _param("callbacks", "progress", C), _param("lora_alpha", -1.0, R), _param("peft_config", "lora", R),
    _param("cache_dir", 3), _param("cache_max_bytes", -1), _param("device", 3), _param("filters", "notch"),
    _param("max_window_seconds", 0.0), _param("pad_mode", "wrap"), _param("reject_by_annotation", "yes"),
    _param("split_overlap", 1.0), _param("split_pooling", "median"), _param("merge_lora", "yes", C),
]

DATA_CASES = [
    Case("X-2d", lambda d, p: T(d).fit(d.X[0]), ValueError,
         r"3-D array \(n_trials, n_chans, n_times\).*X\[np.newaxis\]"),
    Case("X-4d", lambda d, p: T(d).fit(d.X[..., None]), ValueError, r"3-D array"),
    Case("X-empty", lambda d, p: T(d).fit(d.X[:0]), ValueError, r"0 sample"),
    Case("X-nan", lambda d, p: T(d).fit(_with(d, (0, 0, 0), np.nan)), ValueError, r"NaN"),
    Case("X-inf", lambda d, p: T(d).fit(_with(d, (0, 0, 0), np.inf)), ValueError, r"infinity"),
    Case("X-nan-transform", lambda d, p: T(d).fit(d.X).transform(_with(d, (2, 1, 3), np.nan)), ValueError, r"NaN"),
    Case("X-complex", lambda d, p: T(d).fit(d.X.astype(complex)), ValueError, r"[Cc]omplex.*np\.real"),
    Case("X-strings", lambda d, p: T(d).fit(d.X.astype(str)), ValueError, r"numbers|float"),
    Case("X-overflow-inside-model", lambda d, p: T(d).fit(d.X).transform(_with(d, (0, 3, 100), 1e300)),
         ValueError, r"NaN or infinite.*\[0\]"),
    Case("X-overflow-classifier", lambda d, p: C(d).fit(d.X, d.y).predict(_with(d, (5, 3, 100), 1e300)),
         ValueError, r"NaN or infinite.*\[5\]"),
    Case("ch_names-length", lambda d, p: T(d, ch_names=d.ch_names[:-1]).fit(d.X), ValueError,
         r"ch_names has 18 names but X has 19 channels"),
    Case("numpy-without-sfreq", lambda d, p: FoundationTransformer(**tiny("biot")).fit(d.X), ValueError,
         r"Numpy input needs sfreq and ch_names"),
    Case("numpy-without-ch_names", lambda d, p: FoundationTransformer(**tiny("biot", sfreq=250)).fit(d.X),
         ValueError, r"Numpy input needs ch_names"),
    Case("unknown-channel-names", lambda d, p: T(d, ch_names=[f"chan{i}" for i in range(19)]).fit(d.X),
         ValueError, r"None of the channels.*Rename your channels to 10-20 names"),
    Case("no-positions-advice-for-vocabulary-model",
         lambda d, p: T(d, "labram", ch_names=[f"chan{i}" for i in range(19)]).fit(d.X),
         ValueError, r"(?s)^(?!.*give their positions).*Rename your channels"),
    Case("window-too-short", lambda d, p: T(d, "labram").fit(d.X[..., :200]), ValueError,
         r"too short for labram: 200 samples at 250 Hz \(0.80 s\)"),
    Case("window-length-differs", lambda d, p: T(d).fit(d.X).transform(d.X[..., :400]), ValueError,
         r"400 samples but the estimator was fitted on 500"),
    Case("channel-count-differs", lambda d, p: T(d).fit(d.X).transform(d.X[:, :18]), ValueError,
         r"X has 18 channels but FoundationTransformer was fitted on 19"),
    Case("uV-declared-but-volts", lambda d, p: T(d).fit(d.X * 1e-6), UserWarning, r"units='uV'.*units='V'"),
    Case("V-declared-but-microvolts", lambda d, p: T(d, units="V").fit(d.X), UserWarning, r"units='V'.*units='uV'"),
    Case("numpy-after-epochs-fit",
         lambda d, p: FoundationTransformer(**tiny("biot")).fit(_epochs(d)).transform(d.X), UserWarning,
         r"fitted on mne.Epochs.*units"),
    Case("evoked", lambda d, p: FoundationTransformer(**tiny("biot")).fit(_epochs(d).average()), ValueError,
         r"Evoked.*average.*Epochs"),
    Case("raw-to-classifier", lambda d, p: C(d, sfreq=None, ch_names=None).fit(
        mne.io.RawArray(d.X[0] * 1e-6, mne.create_info(list(d.ch_names), d.sfreq, "eeg"), verbose=False),
        d.y[2:4]), ValueError, r"Raw recording needs cutting into windows"),
    Case("raw-without-window_seconds", lambda d, p: FoundationTransformer(**tiny("biot")).fit(
        mne.io.RawArray(d.X[0] * 1e-6, mne.create_info(list(d.ch_names), d.sfreq, "eeg"), verbose=False)),
        ValueError, r"window_seconds="),
]

TARGET_CASES = [
    Case("y-single-class", lambda d, p: C(d).fit(d.X, np.full(len(d.X), "rest")), ValueError,
         r"only one class .'rest'.*at least two"),
    Case("y-length", lambda d, p: C(d).fit(d.X, d.y[:-1]), ValueError, r"24 windows but y has 23"),
    Case("y-empty", lambda d, p: C(d).fit(d.X, d.y[:0]), ValueError, r"y is empty.*24 windows"),
    Case("y-none-classifier", lambda d, p: C(d).fit(d.X, None), ValueError, r"requires y to be passed"),
    Case("y-none-regressor", lambda d, p: R(d).fit(d.X, None), ValueError, r"requires y to be passed"),
    Case("y-column-classifier", lambda d, p: C(d).fit(d.X, d.y[:, None]), UserWarning,
         r"column-vector y was passed when a 1d array was expected"),
    Case("y-complex-regressor", lambda d, p: R(d).fit(d.X, np.arange(24) * 1j), ValueError, r"[Cc]omplex.*np\.real"),
    Case("X-sparse", lambda d, p: T(d).fit(__import__("scipy.sparse", fromlist=["x"]).csr_matrix(d.X[:, 0])),
         TypeError, r"[Ss]parse.*not supported"),
    Case("X-zero-length-windows", lambda d, p: T(d).fit(d.X[..., :0]), ValueError,
         r"at least one channel and one sample"),
    Case("y-3d-classifier", lambda d, p: C(d).fit(d.X, d.y[:, None, None]), ValueError, r"y must be 1-D"),
    Case("y-nan-regressor", lambda d, p: R(d).fit(d.X, np.r_[np.nan, np.ones(len(d.X) - 1)]),
         ValueError, r"y contains NaN"),
    Case("y-inf-regressor", lambda d, p: R(d).fit(d.X, np.r_[np.inf, np.ones(len(d.X) - 1)]), ValueError,
         r"y contains NaN or inf"),
    Case("y-3d-regressor", lambda d, p: R(d).fit(d.X, np.ones((len(d.X), 1, 1))), ValueError, r"y must be 1-D or 2-D"),
    Case("y-strings-regressor", lambda d, p: R(d).fit(d.X, d.y), ValueError,
         r"y must be numeric.*FoundationClassifier"),
    Case("y-empty-regressor", lambda d, p: R(d).fit(d.X, np.ones(0)), ValueError, r"y is empty.*24 windows"),
]

TRAINING_CASES = [
    Case("loss-nan-names-lr", lambda d, p: C(d, lr=1e30, batch_size=4).fit(d.X, d.y), FloatingPointError,
         r"loss .*(nan|inf).*lr=1e\+30"),
    Case("loss-nan-regressor", lambda d, p: R(d, lr=1e30, batch_size=4).fit(d.X, np.arange(24.0)),
         FloatingPointError, r"loss .*(nan|inf).*lr=1e\+30"),
    Case("fp16-training", lambda d, p: C(d, precision="fp16").fit(d.X, d.y), ValueError,
         r"precision='fp16' is for inference"),
    Case("peft_config-without-lora", lambda d, p: C(d, peft_config=__import__("peft").LoraConfig(r=2)).fit(d.X, d.y),
         ValueError, r"peft_config is used with finetune='lora'"),
    Case("merge_lora-without-lora", lambda d, p: C(d, merge_lora=True).fit(d.X, d.y), ValueError,
         r"merge_lora=True needs finetune='lora'"),
    Case("class_weight-on-regressor", lambda d, p: R(d, class_weight="balanced").fit(d.X, np.arange(24.0)),
         ValueError, r"class_weight"),
    Case("class_weight-unknown-class", lambda d, p: C(d, class_weight={"sleep": 2.0}).fit(d.X, d.y), ValueError,
         r"class_weight names unknown classes \['sleep'\]"),
    Case("keep_head-with-other-pooling", lambda d, p: C(d, keep_head=True, pooling="flatten").fit(d.X, d.y),
         ValueError, r"keep_head=True keeps braindecode's head"),
    Case("attentive-pooling-frozen", lambda d, p: T(d, "labram", pooling="attentive").fit(d.X), ValueError,
         r"attentive' is learned"),
    Case("pooling-not-supported-by-card", lambda d, p: T(d, pooling="cls").fit(d.X), ValueError,
         r"'biot' supports pooling in"),
]

WEIGHTS_CASES = [
    Case("unknown-model", lambda d, p: T(d, model="eegnet").fit(d.X), ValueError, r"model.*'eegnet'"),
    Case("unknown-checkpoint", lambda d, p: T(d, weights="labram-huge").fit(d.X), ValueError,
         r"not an existing path.*checkpoint of 'biot'"),
    Case("random-bytes-pt", lambda d, p: T(d, weights=_random_bytes(p, "ckpt.pt")).fit(d.X), ValueError,
         r"not a weight file"),
    Case("random-bytes-safetensors", lambda d, p: T(d, weights=_random_bytes(p, "model.safetensors")).fit(d.X),
         ValueError, r"truncated or corrupt"),
    Case("weights-with-nan", lambda d, p: T(d, weights=_saved_backbone(d, p, _nan_tensor)).fit(d.X), ValueError,
         r"NaN or infinite.*encoder\."),
    Case("weights-int-dtype", lambda d, p: T(d, weights=_saved_backbone(d, p, _int_tensor)).fit(d.X), ValueError,
         r"float32 parameters.*dtype int32"),
    Case("from_pretrained-missing-folder", lambda d, p: FoundationTransformer.from_pretrained(p / "nope"),
         FileNotFoundError, r"does not exist.*save_pretrained"),
    Case("from_pretrained-missing-relative-folder",
         lambda d, p: FoundationTransformer.from_pretrained("no_such_dir/model"),
         FileNotFoundError, r"does not exist.*save_pretrained"),
    Case("from_pretrained-not-ours", lambda d, p: FoundationTransformer.from_pretrained(
        _saved_backbone(d, p, lambda s: None)), ValueError, r"not written by save_pretrained.*weights="),
    Case("eeg2meg-from_pretrained-missing-folder",
         lambda d, p: __import__("eegfm_sklearn.eeg2meg", fromlist=["x"]).EEGToMEGRegressor.from_pretrained(
             str(p / "my-model")), FileNotFoundError, r"does not exist.*save_pretrained"),
    Case("eeg2meg-window-shorter-than-segment", _eeg2meg_short, ValueError, r"5 samples.*seg_len=10"),
]

def _eeg2meg_complex(d, tmp_path):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 4, 20)) * 1e-5, rng.normal(size=(8, 3, 20)) * 1e-12
    EEGToMEGRegressor(seg_len=10, d_model=8, n_heads=2, max_epochs=1).fit(X * (1 + 1j), Y)


# Round two (issue 21): hostile inputs found by the second audit.
HOSTILE_PARAM_CASES = [
    _param("sfreq", True), _param("sfreq", np.True_), _param("batch_size", True), _param("random_state", False),
    _param("split_overlap", True), _param("window_seconds", True), _param("max_epochs", True, C),
    _param("n_threads", 0), _param("n_threads", 1.5), _param("n_threads", True),
]

def _montage(d, scale=1.0, coincide=False):
    import mne

    names = [f"E{i}" for i in range(len(d.ch_names))]
    theta, phi = np.linspace(0.2, 1.3, len(names)), np.linspace(0, 2 * np.pi, len(names), endpoint=False)
    xyz = 0.09 * scale * np.c_[np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    if coincide:
        xyz[:] = xyz[0]
    return names, mne.channels.make_dig_montage(ch_pos=dict(zip(names, xyz)), coord_frame="head")


def _geometry_case(d, **kw):
    names, montage = _montage(d, **kw)
    return T(d, ch_names=names, montage=montage).fit(d.X)


def _torch_file_named_safetensors(d, tmp_path):
    import torch

    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    return T(d, weights=str(path)).fit(d.X)


def _symlink_loop(d, tmp_path):
    link = tmp_path / "weights.pt"
    link.symlink_to(link)
    return T(d, weights=str(link)).fit(d.X)


def _weights_changed_after_fit(d, tmp_path):
    folder = T(d).fit(d.X).save_pretrained(tmp_path / "w")
    return T(d).fit(d.X).set_params(weights=str(folder)).transform(d.X)


HOSTILE_CASES = [
    Case("X-boolean", lambda d, p: T(d).fit(d.X > 0), ValueError, r"booleans.*not a signal"),
    Case("eeg2meg-X-complex", _eeg2meg_complex, ValueError, r"X holds complex values.*np\.real"),
    Case("split-overlap-0.9999", lambda d, p: T(d, "labram", window_policy="split", max_window_seconds=1.0,
                                                split_overlap=0.9999).fit(d.X), ValueError,
         r"split_overlap=0.9999 steps sub-windows.*<= 0.99"),
    Case("biot-from-a-muse-headband", lambda d, p: T(d, ch_names=["TP9", "AF7", "AF8", "TP10"]).fit(d.X[:, :4]),
         UserWarning, r"16 of biot's 16 input channels are estimated.*cm"),
    Case("montage-in-millimetres", lambda d, p: _geometry_case(d, scale=1000), ValueError, r"millimetres"),
    Case("montage-in-centimetres", lambda d, p: _geometry_case(d, scale=100), ValueError, r"centimetres"),
    Case("montage-all-at-one-point", lambda d, p: _geometry_case(d, coincide=True), ValueError, r"at one point"),
    Case("torch-checkpoint-named-safetensors", _torch_file_named_safetensors, ValueError,
         r"torch checkpoint \(zip\), not safetensors"),
    Case("weights-symlink-loop", _symlink_loop, ValueError, r"symbolic link loop"),
    Case("weights-changed-after-fit", _weights_changed_after_fit, ValueError, r"weights changed since fit"),
]

PARAM_CASES = PARAM_CASES + HOSTILE_PARAM_CASES
CASES = PARAM_CASES + DATA_CASES + TARGET_CASES + TRAINING_CASES + WEIGHTS_CASES + HOSTILE_CASES


def test_every_declared_parameter_has_a_bad_value_row():
    # The estimators' own parameter declarations, not this table, say what must be covered: a new
    # parameter without a row here fails this test.
    covered = {c.id.split("-", 1)[1].split("=", 1)[0] for c in PARAM_CASES}
    declared = set().union(*(cls._parameter_constraints for cls in
                             (FoundationTransformer, FoundationClassifier, FoundationRegressor)))
    assert declared - covered == set()
    assert len({c.id for c in CASES}) == len(CASES)  # pytest ids: one row, one test


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, synthetic, tmp_path):
    if issubclass(case.expect, Warning):
        with pytest.warns(case.expect, match=case.match):
            case.run(synthetic, tmp_path)
    else:
        with pytest.raises(case.expect, match=case.match):
            case.run(synthetic, tmp_path)


def test_a_window_far_too_long_is_refused_before_the_data_are_copied(synthetic, monkeypatch):
    import eegfm_sklearn.estimators.base as base

    def copied(*args, **kwargs):
        raise AssertionError("the window was validated (copied to float64) before its length was checked")

    monkeypatch.setattr(base, "check_eeg_input", copied)
    X = np.broadcast_to(np.float32(10.0), (1, 19, 5_000_000))  # 25000 s at 200 Hz, no memory of its own
    with pytest.raises(ValueError, match=r"too long for biot: 25000.00 s.*window_policy='split'"):
        T(synthetic, sfreq=200).fit(X)


def test_a_rate_given_as_a_fraction_is_a_rate(synthetic):
    from fractions import Fraction

    d = synthetic
    as_fraction = T(d, sfreq=Fraction(int(d.sfreq * 2), 2)).fit(d.X).transform(d.X[:2])
    np.testing.assert_array_equal(as_fraction, T(d).fit(d.X).transform(d.X[:2]))


def test_parameters_are_checked_before_weights_are_resolved(synthetic, monkeypatch):
    # An unreachable Hub repo as weights= would fail on download; the bad param is reported first.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    est = T(synthetic, weights="someone/missing-repo", batch_size=0)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        est.fit(synthetic.X)


@pytest.mark.parametrize("dtype, kept", [(np.float32, True), (np.float64, True), (np.int16, False),
                                         (np.float16, False)])
def test_validation_keeps_float_input_without_a_copy(synthetic, dtype, kept):
    """A float64 copy of float32 input was twice its size (BENDR: 5x the input at its peak)."""
    from eegfm_sklearn.validation import check_eeg_input

    X = (np.random.default_rng(0).standard_normal((2, 19, 600)) * 20).astype(dtype)
    est = T(synthetic, sfreq=200)
    out, _ = check_eeg_input(est, X, sfreq=200, ch_names=est.ch_names, units="uV", reset=True)
    assert np.shares_memory(out, X) == kept
    assert out.dtype == (dtype if kept else np.float32)
    np.testing.assert_array_equal(out, X.astype(out.dtype))
