"""Parity with the authors' own model code.

Each folder ``tests/parity/<case>/`` holds a fixture written by a generator script in
``tools/parity/`` from a checkout of the authors' repository (their code is never copied
here): a checkpoint in the authors' published layout, an input, the authors' features and
``meta.json`` saying which repository, commit and lines produced them. The package loads the
checkpoint through ``weights=`` and must give the same features.
"""

import json
import pathlib

import numpy as np
import pytest

PARITY = pathlib.Path(__file__).parent / "parity"
CASES = sorted(p.parent.name for p in PARITY.glob("*/meta.json"))


def _load(case):
    folder = PARITY / case
    meta = json.loads((folder / "meta.json").read_text())
    data = np.load(folder / meta["input"], allow_pickle=False)
    return folder, meta, data


@pytest.mark.parametrize("case", CASES)
def test_features_equal_the_authors(case):
    from eegfm_sklearn import FoundationTransformer

    folder, meta, data = _load(case)
    X = data["X"]
    est = FoundationTransformer(
        meta["model"],
        weights=str(folder / meta["checkpoint"]),
        sfreq=float(data["sfreq"]),
        ch_names=[str(c) for c in data["ch_names"]],
        **meta.get("estimator_kwargs", {}),
    )
    features = est.fit(X).transform(X)
    expected = np.load(folder / meta["features"], allow_pickle=False)
    assert features.shape == expected.shape
    scale = np.abs(expected).max()
    np.testing.assert_allclose(features, expected, rtol=0, atol=meta.get("rtol", 1e-5) * scale)


def test_every_fixture_names_its_source():
    for case in CASES:
        meta = json.loads((PARITY / case / "meta.json").read_text())
        assert {"repository", "commit", "lines", "generator"} <= set(meta["source"]), case
