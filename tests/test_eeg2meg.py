"""EEG->MEG transformer, baselines, pairing helper, metrics and simulator."""

import ast
import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import joblib
import mne
import numpy as np
import pytest
import skorch
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import check_no_attributes_set_in_init

from eegfm_sklearn.eeg2meg import (
    EEGToMEGRegressor,
    EEGToMEGTransformer,
    RidgeEEGToMEG,
    eeg2meg_metrics,
    get_forward,
    paired_windows,
    simulate_paired_raw,
    simulate_paired_windows,
)
from eegfm_sklearn.eeg2meg.networks import build_network, network_modes
from eegfm_sklearn.eeg2meg.persist import load_network, save_folder
from eegfm_sklearn.weights import WeightsError

from conftest import require_data

ROOT = Path(__file__).resolve().parents[1]

TINY = dict(d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, n_routers=2,
            seg_len=8, skip_lags=2, max_epochs=2, batch_size=8, random_state=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def toy():
    """MEG = a fixed lagged linear mix of EEG plus noise: (X, Y) in SI-like units."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 6, 40)) * 1e-5
    W = rng.standard_normal((5, 6))
    Y = np.einsum("oc,nct->not", W, X) * 1e-8
    Y[..., 1:] += 0.5 * np.einsum("oc,nct->not", W[::-1], X[..., :-1]) * 1e-8
    Y += rng.standard_normal(Y.shape) * 1e-15
    return X, Y


@pytest.fixture(scope="module")
def fitted(toy):
    return EEGToMEGRegressor(**TINY).fit(*toy)


# -- network ----------------------------------------------------------------------
def test_network_shapes_variable_lengths_and_channels():
    torch.manual_seed(0)
    net = EEGToMEGTransformer(7, 11, seg_len=5, d_model=16, n_heads=2, n_routers=3)
    for t in (5, 23, 64):  # not multiples of seg_len too
        assert net(torch.randn(2, 7, t)).shape == (2, 11, t)
    assert net(torch.randn(2, 7, 30), n_times_out=60).shape == (2, 11, 60)
    with pytest.raises(ValueError, match="EEG channels"):
        net(torch.randn(2, 8, 30))


def test_drop_path_drops_whole_layer_updates_per_window():
    # One decoder layer, no encoder layer, no dropout: in training each window's output is either the
    # linear route (the decoder's update dropped) or that route plus twice the update (kept, scaled).
    torch.manual_seed(0)
    kw = dict(seg_len=4, d_model=8, n_heads=2, n_routers=2, n_encoder_layers=0, linear_skip=False)
    net = EEGToMEGTransformer(3, 5, drop_path=0.5, **kw)
    with torch.no_grad():
        net.channel_mix.normal_()  # starts at zero without the skip: make the route visible
    x = torch.randn(64, 3, 12)
    net.eval()
    full = net(x)
    route = EEGToMEGTransformer(3, 5, n_decoder_layers=0, **kw)
    route.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("decoder.")})
    route.eval()
    linear = route(x)
    net.train()
    with torch.no_grad():
        out = net(x)
    dropped = torch.isclose(out, linear, atol=1e-5).flatten(1).all(1)
    kept = torch.isclose(out, linear + 2 * (full - linear), atol=1e-5).flatten(1).all(1)
    assert bool((dropped ^ kept).all())  # each window is one or the other, as a whole
    assert 16 <= int(dropped.sum()) <= 48  # about half (Binomial(64, 0.5))
    net.eval()
    assert torch.equal(net(x), full)  # inference: the layers as they are
    with pytest.raises(ValueError, match="drop_path must be in"):
        EEGToMEGTransformer(3, 5, drop_path=1.0)


def test_drop_path_reaches_the_network(toy):
    est = EEGToMEGRegressor(**{**TINY, "max_epochs": 1}, drop_path=0.25).fit(*toy)
    assert est.module_.drop_path == 0.25
    assert clone(est).get_params()["drop_path"] == 0.25


def test_network_save_load_is_safetensors_only(tmp_path):
    net = EEGToMEGTransformer(4, 3, seg_len=4, d_model=8, n_heads=2).eval()
    save_folder(net, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    back = load_network(tmp_path)
    assert type(back) is EEGToMEGTransformer and back.build_kwargs == net.build_kwargs
    x = torch.randn(2, 4, 20)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), back(x), rtol=0, atol=0)


# -- estimator API ------------------------------------------------------------------
def test_fit_predict_shapes_and_units(fitted, toy):
    X, Y = toy
    pred = fitted.predict(X)
    assert pred.shape == Y.shape and pred.dtype == np.float64
    assert 0.1 < pred.std() / Y.std() < 10  # back in the original (tiny) units
    assert fitted.score(X, Y) > 0.5  # the linear path alone explains most of it
    assert fitted.predict(X[:3, :, :24]).shape == (3, 5, 24)  # other window length


def test_meg_window_with_other_sampling_rate(toy):
    X, Y = toy
    Y2 = np.repeat(Y, 2, axis=2)  # MEG at twice the EEG rate over the same span
    est = EEGToMEGRegressor(**{**TINY, "max_epochs": 1}).fit(X, Y2)
    assert est.predict(X[:2]).shape == (2, 5, 80)


def test_not_fitted_and_init_stores_params(toy):
    est = EEGToMEGRegressor(d_model=8)
    with pytest.raises(NotFittedError):
        est.predict(toy[0])
    check_no_attributes_set_in_init("EEGToMEGRegressor", est)
    check_no_attributes_set_in_init("RidgeEEGToMEG", RidgeEEGToMEG())


def test_save_pretrained_round_trip(fitted, toy, tmp_path):
    fitted.save_pretrained(tmp_path / "m")
    back = EEGToMEGRegressor.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(back.predict(toy[0]), fitted.predict(toy[0]))
    assert back.get_params() == fitted.get_params()
    # The bare network carries the channel statistics too.
    net = load_network(tmp_path / "m")
    with torch.inference_mode():
        y = net.predict_si(torch.as_tensor(toy[0], dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(y, fitted.predict(toy[0]), rtol=1e-3, atol=1e-5 * np.abs(y).max())


def test_from_pretrained_reads_a_hub_repo_then_its_cache_when_the_hub_is_gone(fitted, toy, tmp_path, hub):
    fitted.save_pretrained(tmp_path / "m")
    hub.publish("lab/eeg2meg-tiny", tmp_path / "m")
    cache = tmp_path / "hf-cache"
    online = EEGToMEGRegressor.from_pretrained("lab/eeg2meg-tiny", cache_dir=cache)
    np.testing.assert_array_equal(online.predict(toy[0]), fitted.predict(toy[0]))
    hub.stop()  # unreachable now (connection refused), HF_HUB_OFFLINE unset: the probe sends it to the cache
    offline = EEGToMEGRegressor.from_pretrained("lab/eeg2meg-tiny", cache_dir=cache)
    np.testing.assert_array_equal(offline.predict(toy[0]), fitted.predict(toy[0]))
    with pytest.raises(WeightsError, match=r"(?s)lab/eeg2meg-tiny.*could not be reached.*by hand"):
        EEGToMEGRegressor.from_pretrained("lab/eeg2meg-tiny", cache_dir=tmp_path / "empty")


def test_pickle_and_joblib_round_trip(fitted, toy, tmp_path):
    X = toy[0]
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict(X), fitted.predict(X))
    joblib.dump(fitted, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), fitted.predict(X))
    # As in the core, the fitted state holds the trained module and history, never a skorch net.
    assert not hasattr(fitted, "net_")
    assert not any(isinstance(v, skorch.NeuralNet) for v in vars(fitted).values())
    # An unfitted estimator survives pickle, joblib and clone as a recipe: still unfitted, and
    # each copy trains the same model.
    unfitted = EEGToMEGRegressor(**{**TINY, "max_epochs": 1})
    joblib.dump(unfitted, tmp_path / "u.joblib")
    copies = [pickle.loads(pickle.dumps(unfitted)), joblib.load(tmp_path / "u.joblib"), clone(unfitted)]
    for copy in copies:
        with pytest.raises(NotFittedError):
            copy.predict(X)
    reference = unfitted.fit(*toy).predict(X)
    for copy in copies:
        np.testing.assert_array_equal(copy.fit(*toy).predict(X), reference)


def test_random_state_reproducible_and_global_rng_untouched(toy):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = EEGToMEGRegressor(**{**TINY, "max_epochs": 1}).fit(*toy).predict(toy[0])
    assert torch.equal(before, torch.random.get_rng_state())
    b = EEGToMEGRegressor(**{**TINY, "max_epochs": 1}).fit(*toy).predict(toy[0])
    np.testing.assert_array_equal(a, b)


def test_seeded_fits_same_in_threads(toy):
    """The core's seeding: a seeded fit is the same alone or beside other (also unseeded) fits in threads."""
    def fit(seed):
        return EEGToMEGRegressor(**{**TINY, "max_epochs": 1, "random_state": seed}).fit(*toy).predict(toy[0])

    alone = {seed: fit(seed) for seed in (0, 1)}
    assert not np.array_equal(alone[0], alone[1])
    seeds = (0, 1, None, 0, 1, None)
    runs = joblib.Parallel(n_jobs=3, backend="threading")(joblib.delayed(fit)(seed) for seed in seeds)
    for seed, pred in zip(seeds, runs):
        if seed is not None:
            np.testing.assert_array_equal(pred, alone[seed])


def test_clone_and_grid_search(fitted, toy):
    c = clone(fitted)
    assert not hasattr(c, "module_") and c.get_params() == fitted.get_params()
    X, Y = toy
    base, cv, widths = EEGToMEGRegressor(**{**TINY, "max_epochs": 1}), KFold(2), [8, 16]
    gs = GridSearchCV(base, {"d_model": widths}, cv=cv).fit(X, Y)
    # The grid's scores are each width's own cross-validated score (seeded, deterministic fits),
    # and it keeps the best width.
    own = [cross_val_score(clone(base).set_params(d_model=d), X, Y, cv=cv).mean() for d in widths]
    np.testing.assert_allclose(gs.cv_results_["mean_test_score"], own, rtol=1e-12)
    best = widths[int(np.argmax(own))]
    assert gs.best_params_ == {"d_model": best}
    # The refit network has that width, predicts as a direct fit at that width does, and the
    # width changes the predictions.
    norms = [m for m in gs.best_estimator_.module_.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and {m.normalized_shape for m in norms} == {(best,)}
    direct = {d: clone(base).set_params(d_model=d).fit(X, Y).predict(X) for d in widths}
    np.testing.assert_allclose(gs.predict(X), direct[best], rtol=1e-6, atol=1e-6 * np.abs(Y).max())
    assert not np.allclose(direct[8], direct[16], rtol=1e-3, atol=1e-3 * np.abs(Y).max())


@pytest.mark.parametrize("est", [EEGToMEGRegressor(**TINY), RidgeEEGToMEG(n_lags=1)])
def test_bad_input_messages(est, toy):
    X, Y = toy
    with pytest.raises(ValueError, match="24 EEG windows but Y has 23.*paired"):
        est.fit(X, Y[:-1])
    Xn = X.copy()
    Xn[3, 1, 5] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*Drop those windows"):
        est.fit(Xn, Y)
    with pytest.raises(ValueError, match=r"3-D.*X\[np.newaxis\]"):
        est.fit(X[0], Y[0])
    with pytest.raises(ValueError, match="3-D"):
        est.fit(X.reshape(24, -1), Y)
    est.fit(X, Y)
    with pytest.raises(ValueError, match="fitted on 6"):
        est.predict(X[:, :4])


# -- the core's services -------------------------------------------------------------
@pytest.mark.slow  # a fresh interpreter
def test_import_is_lazy_and_needs_no_transformers():
    # One fresh interpreter (imports are slow), with transformers hidden as if not installed.
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "import eegfm_sklearn\n"
        "assert 'eegfm_sklearn.eeg2meg' not in sys.modules, 'import eegfm_sklearn imported eeg2meg'\n"
        "from eegfm_sklearn import EEGToMEGRegressor\n"
        "from eegfm_sklearn.eeg2meg import EEGToMEGRegressor as direct\n"
        "assert EEGToMEGRegressor is direct and 'eegfm_sklearn.eeg2meg' in sys.modules\n"
        "import eegfm_sklearn.eeg2meg as e2m\n"
        "try:\n"
        "    e2m.EEGToMEGModel\n"
        "except ImportError as err:\n"
        "    assert \"pip install 'eegfm_sklearn[hf]'\" in str(err), err\n"
        "else:\n"
        "    raise AssertionError('EEGToMEGModel without transformers')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-2000:]


def _sibling_imports(path):
    """Sibling modules a module imports, at import time or inside its functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
    return found


def test_eeg2meg_modules_import_each_other_without_cycles():
    package = ROOT / "eegfm_sklearn" / "eeg2meg"
    graph = {p.stem: _sibling_imports(p) & {q.stem for q in package.glob("*.py")}
             for p in package.glob("*.py") if p.stem != "__init__"}
    assert "scoring" in graph["baselines"] and "estimator" not in graph["baselines"]

    def visit(node, path):
        assert node not in path, f"import cycle: {' -> '.join(path + [node])}"
        for nxt in graph.get(node, ()):
            visit(nxt, path + [node])

    for module in graph:
        visit(module, [])


def test_builder_is_the_one_way_to_a_network():
    assert "continuous" in network_modes()
    net = build_network("continuous", n_chans_in=4, n_chans_out=3, seg_len=4, d_model=8, n_heads=2)
    assert type(net) is EEGToMEGTransformer and net.mode == "continuous"
    assert net.build_kwargs["n_chans_in"] == 4 and net.build_kwargs["d_model"] == 8
    with pytest.raises(ValueError, match="Unknown EEG->MEG network mode 'nope'.*continuous"):
        build_network("nope", n_chans_in=4, n_chans_out=3)
    with pytest.raises(ValueError, match=r"\['widht'\] are not arguments of the 'continuous' network"):
        build_network("continuous", n_chans_in=4, n_chans_out=3, widht=3)
    with pytest.raises(ValueError, match=r"The 'continuous' network needs \['n_chans_out'\]"):
        build_network("continuous", n_chans_in=4)


@pytest.mark.parametrize("est, name, accepted", [
    (EEGToMEGRegressor(mode="nope"), "mode", "network mode, one of"),
    (EEGToMEGRegressor(lr=-1.0), "lr", "range"),
    (EEGToMEGRegressor(d_model=2.5), "d_model", "int"),
    (EEGToMEGRegressor(dropout=1.0), "dropout", "range"),
    (EEGToMEGRegressor(drop_path=1.0), "drop_path", "range"),
    (EEGToMEGRegressor(random_state=np.random.RandomState(0)), "random_state", "int"),
    (RidgeEEGToMEG(n_lags=-1), "n_lags", "range"),
    (RidgeEEGToMEG(alphas=[1.0, 0.0]), "alphas", "positive floats"),
    (RidgeEEGToMEG(cv=1), "cv", "range"),
])
def test_params_are_checked_first(est, name, accepted, toy):
    # The windows are bad too (NaN): the parameter is reported first, before the data are read.
    X = toy[0].copy()
    X[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=rf"'{name}' parameter of \w+ must be.*{accepted}.*Got"):
        est.fit(X, toy[1])


def test_save_pretrained_layout(fitted, tmp_path):
    from safetensors import safe_open

    folder = fitted.save_pretrained(tmp_path / "m")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "eegfm_estimator.json"}
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "eeg2meg" and config["mode"] == "continuous"
    assert config["d_model"] == TINY["d_model"] and config["n_chans_in"] == 6
    with safe_open(folder / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert keys == {"network." + k for k in fitted.module_.state_dict()}
    state = json.loads((folder / "eegfm_estimator.json").read_text())
    assert state["estimator"] == "EEGToMEGRegressor" and state["params"]["lr"] == fitted.lr
    with pytest.raises(ValueError, match="does not hold an EEG->MEG model"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "config.json").write_text('{"model_type": "bert"}')
        EEGToMEGRegressor.from_pretrained(tmp_path / "other")


# -- baselines and metrics ------------------------------------------------------------
def test_ridge_baselines_recover_lagged_map(toy):
    X, Y = toy
    inst = RidgeEEGToMEG(n_lags=0).fit(X, Y)
    lagged = RidgeEEGToMEG(n_lags=1).fit(X, Y)
    assert lagged.score(X, Y) > 0.999
    assert inst.score(X, Y) < lagged.score(X, Y) - 0.05
    assert lagged.coef_.shape == (6 * 3, 5)
    assert lagged.n_features_in_ == lagged.n_eeg_channels_ == 6  # scikit-learn's name, as the network's has


def test_metrics_split_by_sensor_type():
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((4, 3, 50))
    m = eeg2meg_metrics(Y, Y, ["mag", "grad", "grad"])
    np.testing.assert_allclose(m["r"], 1)
    np.testing.assert_allclose(m["r2"], 1)
    assert m["summary"]["mag"]["n"] == 1 and m["summary"]["grad"]["n"] == 2
    noisy = eeg2meg_metrics(Y, Y + rng.standard_normal(Y.shape), None)
    assert set(noisy["summary"]) == {"all"}
    assert 0.5 < noisy["summary"]["all"]["r"] < 0.9 and noisy["summary"]["all"]["r2"] < 0.5
    with pytest.raises(ValueError, match="same shape"):
        eeg2meg_metrics(Y, Y[:, :2])


# -- real recordings ------------------------------------------------------------------
def test_paired_windows_from_real_files():
    evokeds = mne.read_evokeds(require_data("eeg_meg", "test-ave.fif.gz"), verbose=False)
    w = paired_windows(evokeds, n_times=100, step=50)
    assert w.X.shape[1:] == (60, 100) and w.Y.shape[1:] == (306, 100)
    assert (w.meg_ch_types == "mag").sum() == 102 and (w.meg_ch_types == "grad").sum() == 204
    assert len(w.X) == 4 * 7 and set(w.source) == {0, 1, 2, 3}
    X, Y = paired_windows(evokeds[0], n_times=421)
    assert X.shape == (1, 60, 421)
    raw = mne.io.read_raw_fif(require_data("eeg_meg", "sample_audvis_trunc_raw_sss.fif"), verbose=False)
    assert paired_windows(raw, n_times=60).Y.shape == (5, 306, 60)
    with warnings.catch_warnings():  # "no info dict": positions unknown, not needed here
        warnings.simplefilter("ignore", RuntimeWarning)
        ft = mne.io.read_raw_fieldtrip(require_data("eeg_meg", "neuromag306_raw_v7.mat"), info=None)
    wf = paired_windows(ft, n_times=300)
    assert wf.X.shape == (5, 60, 300) and wf.Y.shape == (5, 303, 300)
    epochs = mne.EpochsArray(np.stack([evokeds[0].data] * 2), evokeds[0].info, verbose=False)
    assert paired_windows(epochs, n_times=200).X.shape == (4, 60, 200)
    with pytest.raises(ValueError, match="smaller n_times"):
        paired_windows(raw, n_times=10_000)


# -- simulator ------------------------------------------------------------------------
@pytest.mark.slow  # forward models of a real head
def test_simulator_is_seeded_realistic_and_forward_cached(tmp_path):
    require_data("eeg_meg", "test-ave.fif.gz")  # the sensor geometry the forward model uses
    fwd = get_forward(cache_dir=tmp_path)
    assert list(tmp_path.glob("*-fwd.fif"))
    assert get_forward(cache_dir=tmp_path) is fwd  # in-memory cache: no recomputation
    assert fwd["nchan"] == 366
    a = simulate_paired_windows(n_windows=6, n_times=100, sfreq=100.0, seed=3, cache_dir=tmp_path)
    b = simulate_paired_windows(n_windows=6, n_times=100, sfreq=100.0, seed=3, cache_dir=tmp_path)
    c = simulate_paired_windows(n_windows=6, n_times=100, sfreq=100.0, seed=4, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)
    assert a.X.shape == (6, 60, 100) and a.Y.shape == (6, 306, 100)
    # Physiological magnitudes: EEG microvolts, MEG magnetometers 10s-1000s of fT.
    assert 1e-6 < a.X.std() < 1e-4
    assert 1e-14 < a.Y[:, a.meg_ch_types == "mag"].std() < 5e-12
    raw = simulate_paired_raw(duration=20.0, sfreq=100.0, seed=0, cache_dir=tmp_path)
    psd = raw.compute_psd(picks="eeg", fmin=2, fmax=40, verbose=False)
    freqs, power = psd.freqs, psd.get_data().mean(0)
    assert power[freqs < 5].mean() > power[freqs > 30].mean()  # 1/f-like
    alpha = power[(freqs >= 8) & (freqs <= 12)].mean()
    assert alpha > power[(freqs >= 13) & (freqs <= 16)].mean()  # an alpha peak
