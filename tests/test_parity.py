"""Parity with the authors' own model code.

Each folder ``tests/parity/<case>/`` holds a fixture written by a generator script in
``tools/parity/`` from a checkout of the authors' repository (their code is never copied
here): a checkpoint in the authors' published layout, an input, the authors' features and
``meta.json`` saying which repository, commit (or released distribution) and lines produced
them. The package loads the checkpoint through ``weights=`` and must give the same features (docs/guide/parity.md).

``meta["compare"]``: ``"transform"`` (default) runs ``FoundationTransformer.transform`` on
``X`` (the input adapter included: units, channels, scaling); ``"backbone"`` feeds ``X`` as
the authors' model received it straight to the loaded module's feature path (for inputs the
adapter cannot produce exactly, e.g. a normalisation done by the authors' data loader).
``meta["whole_path"]`` (optional, where the authors publish their data preparation): the
package's whole path on the raw recording against their preparation and forward, within the
stated ``rtol`` (relative RMS: resampling methods differ sample by sample, and the fixture says
by how much, ``measured``).
"""

import json
import pathlib

import numpy as np
import pytest

PARITY = pathlib.Path(__file__).parent / "parity"
CASES = sorted(p.parent.name for p in PARITY.glob("*/meta.json"))
WHOLE = sorted(c for c in CASES if "whole_path" in json.loads((PARITY / c / "meta.json").read_text()))


def _meta(case):
    return json.loads((PARITY / case / "meta.json").read_text())


def _input(case, name):
    with np.load(PARITY / case / name, allow_pickle=False) as data:
        return data["X"], float(data["sfreq"]), [str(c) for c in data["ch_names"]]


def _fitted(case, kwargs, X, sfreq, ch_names):
    from eegfm_sklearn import FoundationTransformer

    meta = _meta(case)
    est = FoundationTransformer(meta["model"], weights=str(PARITY / case / meta["checkpoint"]), sfreq=sfreq,
                                ch_names=ch_names, **kwargs)
    return est.fit(X)


def backbone_features(est, X):
    """The loaded module's features of ``X`` as the authors' model received it (no adapter)."""
    from eegfm_sklearn.backbone import predict_batches

    return predict_batches(est.module_, np.asarray(X, dtype=np.float32))


def package_features(case):
    """The package's features for the fixture's input, as ``meta["compare"]`` says."""
    meta = _meta(case)
    X, sfreq, ch_names = _input(case, meta["input"])
    est = _fitted(case, meta.get("estimator_kwargs", {}), X, sfreq, ch_names)
    if meta.get("compare", "transform") == "backbone":
        return backbone_features(est, X)
    return est.transform(X)


def relative_error(features, expected):
    """Largest absolute difference over the largest absolute expected value."""
    return float(np.abs(features - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("case", CASES)
def test_features_equal_the_authors(case):
    meta = _meta(case)
    features = package_features(case)
    expected = np.load(PARITY / case / meta["features"], allow_pickle=False)
    assert features.shape == expected.shape
    assert relative_error(features, expected) <= meta.get("rtol", 1e-5), case


@pytest.mark.parametrize("case", WHOLE)
def test_whole_path_on_the_raw_recording(case):
    """The package's preprocessing on the raw recording vs the authors' preparation + forward."""
    whole = _meta(case)["whole_path"]
    X, sfreq, ch_names = _input(case, whole["input"])
    features = _fitted(case, whole.get("estimator_kwargs", {}), X, sfreq, ch_names).transform(X)
    expected = np.load(PARITY / case / whole["features"], allow_pickle=False)
    assert features.shape == expected.shape
    gap = float(np.linalg.norm(features - expected) / np.linalg.norm(expected))  # relative RMS
    assert gap <= whole["rtol"], (case, gap, whole["preparation"])


def test_backbone_mode_bypasses_the_adapter():
    # CBraMod's authors feed µV / 100: given that tensor directly, the module gives their features.
    meta = _meta("cbramod")
    X, sfreq, ch_names = _input("cbramod", meta["input"])
    est = _fitted("cbramod", meta["estimator_kwargs"], X, sfreq, ch_names)
    expected = np.load(PARITY / "cbramod" / meta["features"], allow_pickle=False)
    assert relative_error(backbone_features(est, X / 100), expected) <= 1e-5
    assert relative_error(backbone_features(est, X), expected) > 0.1  # the adapter's scaling is skipped


def _pin(source):
    """What pins the authors' code: a git commit, or a released distribution (PyPI) and its hash."""
    if "commit" in source:
        return source["commit"][:7]
    return source["distribution"]


def test_every_fixture_names_its_source():
    assert CASES, "no parity fixture found"
    for case in CASES:
        meta = _meta(case)
        assert {"repository", "lines", "generator"} <= set(meta["source"]), case
        if "commit" in meta["source"]:
            assert len(meta["source"]["commit"]) == 40, case
        else:  # code released as a package (ZUNA1.1: PyPI zuna; GitHub holds older code)
            assert "==" in meta["source"]["distribution"], case
            assert len(meta["source"]["sha256"]) == 64, case
        assert (PARITY.parents[1] / meta["source"]["generator"]).is_file(), case
        assert meta.get("compare", "transform") in {"transform", "backbone"}, case
        for name in (meta["checkpoint"], meta["input"], meta["features"]):
            assert (PARITY / case / name).exists(), (case, name)  # a file, or a folder of a multi-file release


def test_fixtures_stay_small():
    total = sum(p.stat().st_size for p in PARITY.rglob("*") if p.is_file())
    assert total < 10e6, f"parity fixtures take {total / 1e6:.1f} MB; keep them to a few MB"


def test_every_exact_claim_in_a_card_has_a_fixture_and_vice_versa():
    from eegfm_sklearn.cards import get_model_card, list_models

    fixture_models = {_meta(case)["model"]: _meta(case) for case in CASES}
    for name in list_models():
        parity = get_model_card(name).parity
        if parity.startswith("exact"):
            assert name in fixture_models, f"{name}: claims {parity!r} without a tests/parity fixture"
    for name, meta in fixture_models.items():
        parity = get_model_card(name).parity
        assert parity.startswith(("exact", "differs")), f"{name} has a fixture; its card must say what it shows"
        assert _pin(meta["source"]) in parity, (name, parity)
