"""Shared fixtures: real recordings from the data folder, tiny model configs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eegfm_sklearn import get_model_card
from eegfm_sklearn._data_dir import get_data_dir
from eegfm_sklearn.datasets import load_eegmat

MODELS = ("bendr", "biot", "labram")


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: runs an example or benchmark script at its --smoke setting")


def require_data(*parts):
    """Path under the data folder; a missing file fails the test (never skips)."""
    path = get_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: set EEGFM_DATA_DIR to the folder holding the shared recordings.")
    return path


def tiny(model, **extra):
    """Params giving a tiny, fast architecture of ``model``."""
    return {"model": model, "model_kwargs": dict(get_model_card(model).tiny_kwargs), **extra}


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
