"""Shared fixtures: real recordings from the data folder, tiny model configs."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from eegfm_sklearn import get_model_card, list_models
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing.channels import STANDARD_19  # noqa: F401  (the 10-20 montage every card adapts)
from eegfm_sklearn.utils._data_dir import get_data_dir

# Under pytest-xdist (`-n 2`: one worker per core) each worker computes on one thread: two workers
# with two threads each would oversubscribe the cores (torch's and BLAS's pools spin while waiting).
# Interpreters the tests start (examples, benchmarks, the CLI) inherit the limit through the environment.
N_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
CPU_SHARE = max(1, min(2, (os.cpu_count() or 1) // N_WORKERS))  # threads a test may use without oversubscribing
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(CPU_SHARE)
    threadpool_limits(CPU_SHARE)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(CPU_SHARE)

MODELS = tuple(list_models())
# Models with published weights (the others are architecture-only cards).
PRETRAINED_MODELS = tuple(m for m in MODELS if get_model_card(m).checkpoints)


# ------------------------------------------------ the fast tier's representative models

def _filter_kind(card):
    f = card.filters
    if f is None or (f.l_freq is None and f.h_freq is None):
        return "none"
    if f.l_freq is not None and f.h_freq is not None:
        return "band-pass"
    return "high-pass" if f.l_freq is not None else "low-pass"


# What makes one card take a different code path than another: a test over these values exercises
# every branch the cards open (channel planning, scaling, positions, forward hooks, window limits,
# filters). A card with a new value of any of them joins the representative set by itself.
CARD_TRAITS = {
    "channel scheme": lambda c: type(c.channels).__name__,
    "scaling class": lambda c: type(c.scaling).__name__,
    "extra channels": lambda c: c.scaling.n_extra_channels > 0,
    "uses positions": lambda c: c.uses_positions,
    "features_of hook": lambda c: c.features_of is not None,
    "forward_kwargs hook": lambda c: c.forward_kwargs is not None,
    "build_extra hook": lambda c: c.build_extra is not None,
    "post_build hook": lambda c: c.post_build is not None,
    "window multiple": lambda c: c.window.multiple > 1,
    "window maximum": lambda c: c.window.max_samples is not None,
    "truncatable table": lambda c: bool(c.truncatable),
    "filters": _filter_kind,
    "notch": lambda c: tuple(c.filters.notch) if c.filters else (),
    "default pooling": lambda c: c.default_pooling,
    "weights": lambda c: bool(c.checkpoints),
}


def card_traits(card):
    """``{(trait, value)}`` of a card (a ModelCard or a registered name; see ``CARD_TRAITS``)."""
    card = get_model_card(card) if isinstance(card, str) else card
    return frozenset((name, trait(card)) for name, trait in CARD_TRAITS.items())


def representative_models(cards=None):
    """Names of a small set of cards that together show every trait value of ``cards``.

    ``cards``: ModelCards (default: every registered card). Greedy set cover in the given order,
    so the choice is deterministic: the card adding the most trait values not yet shown comes
    next (the first such on a tie).
    """
    cards = [get_model_card(m) for m in MODELS] if cards is None else list(cards)
    traits = {c.name: card_traits(c) for c in cards}
    missing = set().union(*traits.values())
    chosen = set()
    while missing:
        best = max(traits, key=lambda name: len(traits[name] & missing))
        chosen.add(best)
        missing -= traits[best]
    return tuple(c.name for c in cards if c.name in chosen)


REPRESENTATIVE = representative_models()


def tiered(models=MODELS, fast=None):
    """``models`` as parametrize values: the representative ones in the fast tier, the rest ``slow``.

    Test ids stay the model names; ``-m "not slow"`` runs the representative set, the full suite
    every model. ``fast``: a smaller fast share (a subset of ``REPRESENTATIVE``) for tests that
    take several seconds per model (training, long recordings, MOABB evaluations).
    """
    fast = REPRESENTATIVE if fast is None else fast
    assert set(fast) <= set(REPRESENTATIVE), fast
    return [pytest.param(m, id=m, marks=() if m in fast else pytest.mark.slow) for m in models]


REAL_DATA_FIXTURES = {"eegmat", "eegmat_small"}


def pytest_collection_modifyitems(items):
    """Tests reading the shared recordings through a fixture say so: marker ``real_data``."""
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_data)


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: runs an example or benchmark script at its --smoke setting")


def require_data(*parts):
    """Path under the data folder; a missing file fails the test (never skips)."""
    path = get_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: set EEGFM_DATA_DIR to the folder holding the shared recordings.")
    return path


@pytest.fixture
def one_thread():
    """Torch and the BLAS pools on one thread for the test: small tensors run faster so, and CI's cores are shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


def tiny(model, **extra):
    """Params giving a tiny, fast architecture of ``model``."""
    return {"model": model, "model_kwargs": dict(get_model_card(model).tiny_kwargs), **extra}


def card_module(model, n_times, output="features", n_outputs=2, names=STANDARD_19):
    """A tiny CardModule of ``model`` for channels ``names`` (template positions), randomly initialised."""
    from eegfm_sklearn.backbone import CardModule

    card = get_model_card(model)
    plan = card.plan_standard(names, n_times=n_times)
    build = {"n_chans": plan.n_chans, "n_times": n_times, "n_outputs": n_outputs,
             "model_kwargs": dict(card.tiny_kwargs)}
    return CardModule(card, build, plan.slots, output=output, slot_positions=plan.positions)


# ------------------------------------------------ weight-test helpers

def build(model, n_chans, n_times, n_outputs=3, seed=0, card=None):
    card = card or get_model_card(model)
    torch.manual_seed(seed)
    return card.build_module(n_chans, n_times, n_outputs, dict(card.tiny_kwargs)).eval()

def is_head(card, key):
    return key.startswith(tuple(card.head_prefixes))

def by_hand(model, n_chans, n_times, state, card=None, tweak=None):
    """A fresh module given ``state`` with load_state_dict(strict=True)."""
    module = build(model, n_chans, n_times, seed=123, card=card)
    if tweak is not None:
        tweak(module)
    module.load_state_dict(state, strict=True)
    return module.eval()

def assert_loaded(card, module, ref_sd, report, adapt=None):
    """Every backbone tensor equals the source; the head is untouched/initialised."""
    got = module.state_dict()
    backbone = [k for k in got if not is_head(card, k)]
    assert set(report.loaded) == set(backbone)
    assert set(report.initialised) == {k for k in got if is_head(card, k)}
    for key in backbone:
        want = adapt(key, ref_sd[key]) if adapt else ref_sd[key]
        assert torch.equal(got[key], want), key

def max_diff(a, b):
    return float((a - b).abs().max())



@pytest.fixture(autouse=True)
def _quiet_known_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A window was not provided")
        yield


@pytest.fixture(scope="session")
def eegmat():
    """All 10 EEGMAT subjects, 4 s windows of the last 60 s (µV, 500 Hz)."""
    require_data("eegmat", "Subject00_1.edf")
    return load_eegmat(subjects=range(10), window_seconds=4.0, download=False)


@pytest.fixture(scope="session")
def eegmat_small(eegmat):
    """4 subjects, 6 windows per file: quick plumbing on real data."""
    keep = np.zeros(len(eegmat.y), bool)
    for subject in range(4):
        for label in ("rest", "arithmetic"):
            idx = np.flatnonzero((eegmat.groups == subject) & (eegmat.y == label))[:6]
            keep[idx] = True
    X, y, g = eegmat.X[keep], eegmat.y[keep], eegmat.groups[keep]
    return type(eegmat)(X, y, g, eegmat.sfreq, eegmat.ch_names)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


SYNTHETIC_CHANNELS = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
                      "P7", "P3", "Pz", "P4", "P8", "O1", "O2")


def make_synthetic(n_groups=4, per_label=3, sfreq=250.0, seconds=2.0, seed=0):
    """EEG-like windows for plumbing tests: no recordings needed.

    Per channel, brown-ish noise of about 20 µV plus a 10 Hz rhythm that is
    stronger in the ``"rest"`` windows, 19 standard 10-20 channels.
    """
    from eegfm_sklearn.datasets import WindowedRecordings

    rng = np.random.default_rng(seed)
    n_times = int(round(seconds * sfreq))
    t = np.arange(n_times) / sfreq
    X, y, groups = [], [], []
    for group in range(n_groups):
        for label, alpha in (("rest", 15.0), ("arithmetic", 5.0)):
            for _ in range(per_label):
                noise = np.cumsum(rng.normal(size=(len(SYNTHETIC_CHANNELS), n_times)), axis=1)
                noise = 20.0 * (noise - noise.mean(axis=1, keepdims=True)) / noise.std(axis=1, keepdims=True)
                phase = rng.uniform(0, 2 * np.pi, size=(len(SYNTHETIC_CHANNELS), 1))
                X.append(noise + alpha * np.sin(2 * np.pi * 10.0 * t + phase))
                y.append(label)
                groups.append(group)
    return WindowedRecordings(np.array(X), np.array(y), np.array(groups), sfreq, list(SYNTHETIC_CHANNELS))


@pytest.fixture(scope="session")
def synthetic():
    """24 synthetic windows (4 groups x 2 labels x 3), 19 channels, 2 s at 250 Hz, µV."""
    return make_synthetic()


def fit_tiny(cls, data, model, **extra):
    """A tiny ``model`` estimator of class ``cls`` fitted on ``data`` (seed 0, one epoch; the
    classifier on ``data.y``, the regressor on ``1.5 * data.groups``)."""
    from eegfm_sklearn import FoundationClassifier, FoundationTransformer

    params = tiny(model, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, **extra)
    if cls is FoundationTransformer:
        return cls(**params).fit(data.X)
    params.setdefault("max_epochs", 1)
    y = data.y if cls is FoundationClassifier else (data.groups * 1.5).astype(float)
    return cls(**params).fit(data.X, y)


@pytest.fixture(scope="session")
def fitted_tiny(synthetic):
    """``fitted_tiny(cls, model)``: ``fit_tiny(cls, synthetic, model)``, fitted once per session.

    Shared: for tests that only read the estimator (outputs, attributes, pickling). A test that
    changes it (``set_params``, ``set_output``, a refit) fits its own with ``fit_tiny``.
    """
    fitted = {}

    def get(cls, model):
        if (cls, model) not in fitted:
            fitted[cls, model] = fit_tiny(cls, synthetic, model)
        return fitted[cls, model]

    return get


# ------------------------------------------------ a Hugging Face Hub on 127.0.0.1

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _HubHandler(http.server.BaseHTTPRequestHandler):
    files: dict = {}  # (repo_id, filename) -> bytes

    def _serve(self, body):
        match = re.match(r"^/(.+?/.+?)/resolve/([^/]+)/(.+)$", unquote(urlparse(self.path).path))
        data = self.files.get((match[1], match[3])) if match else None
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Repo-Commit", HUB_COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", HUB_COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):  # noqa: N802 (http.server API)
        self._serve(body=False)

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch):
    """Serve ``hub.files`` at HF_ENDPOINT (huggingface_hub downloads from it); ``hub.stop()`` takes it down."""
    handler = type("Handler", (_HubHandler,), {"files": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")

    class Hub:
        files = handler.files

        def publish(self, repo_id, folder):
            for path in Path(folder).iterdir():
                self.files[(repo_id, path.name)] = path.read_bytes()

        def stop(self):
            server.shutdown()
            server.server_close()

    hub = Hub()
    yield hub
    if thread.is_alive():
        hub.stop()

