"""Pretrained weights through the estimators: weights=, reports, save/load."""

import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer, get_model_card
from eegfm_sklearn.weights import WeightsError, save_weights_dir

from conftest import MODELS, tiny


def _common(data, **extra):
    return {"sfreq": data.sfreq, "ch_names": data.ch_names, "random_state": 0, **extra}


@pytest.mark.parametrize("model", MODELS)
def test_weights_folder_loads_every_backbone_tensor(model, eegmat_small, tmp_path):
    source = FoundationTransformer(**tiny(model, **_common(eegmat_small, random_state=1))).fit(eegmat_small.X)
    save_weights_dir(source.backbone_, tmp_path / "ckpt", {"note": "fixture"})
    loaded = FoundationTransformer(**tiny(model, weights=str(tmp_path / "ckpt"), **_common(eegmat_small)))
    loaded.fit(eegmat_small.X)
    report = loaded.weights_report_
    head = get_model_card(model).head_prefixes
    assert all(not k.startswith(head) for k in report.loaded)
    backbone_keys = {k for k in loaded.backbone_.state_dict() if not k.startswith(head)}
    assert backbone_keys <= set(report.loaded)
    np.testing.assert_array_equal(loaded.transform(eegmat_small.X), source.transform(eegmat_small.X))
    random = FoundationTransformer(**tiny(model, **_common(eegmat_small))).fit(eegmat_small.X)
    assert random.weights_report_ is None
    assert not np.allclose(random.transform(eegmat_small.X), source.transform(eegmat_small.X))


def test_partial_checkpoint_is_an_error(eegmat_small, tmp_path):
    source = FoundationTransformer(**tiny("biot", **_common(eegmat_small))).fit(eegmat_small.X)
    state = source.backbone_.state_dict()
    dropped = next(k for k in state if k.startswith("encoder."))

    from safetensors.torch import save_file

    (tmp_path / "ckpt").mkdir()
    save_file({k: v.contiguous() for k, v in state.items() if k != dropped}, str(tmp_path / "ckpt" / "model.safetensors"))
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "ckpt"), **_common(eegmat_small)))
    with pytest.raises(WeightsError, match=dropped.replace(".", r"\.")):
        est.fit(eegmat_small.X)


def test_checkpoint_of_another_model_is_refused(eegmat_small, tmp_path):
    source = FoundationTransformer(**tiny("labram", **_common(eegmat_small))).fit(eegmat_small.X)
    source.save_pretrained(tmp_path / "labram")
    with pytest.raises(WeightsError, match="holds a 'labram' model, not 'biot'"):
        FoundationTransformer(**tiny("biot", weights=str(tmp_path / "labram"), **_common(eegmat_small))).fit(
            eegmat_small.X)


@pytest.mark.parametrize("model", MODELS)
def test_save_pretrained_round_trips(model, eegmat_small, tmp_path):
    clf = FoundationClassifier(**tiny(model, max_epochs=1, **_common(eegmat_small))).fit(
        eegmat_small.X, eegmat_small.y)
    folder = clf.save_pretrained(tmp_path / "clf")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors"}
    back = FoundationClassifier.from_pretrained(folder)
    np.testing.assert_array_equal(back.predict_proba(eegmat_small.X), clf.predict_proba(eegmat_small.X))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.get_params()["max_epochs"] == 1 and back.channel_report_ == clf.channel_report_
    # weights=folder + keep_head + no training gives the same predictions too
    again = FoundationClassifier(**tiny(model, weights=str(folder), keep_head=True, max_epochs=0,
                                        **_common(eegmat_small))).fit(eegmat_small.X, eegmat_small.y)
    np.testing.assert_allclose(again.predict_proba(eegmat_small.X), clf.predict_proba(eegmat_small.X),
                               rtol=1e-6, atol=1e-6)


def test_regressor_and_transformer_round_trip(eegmat_small, tmp_path):
    y = np.c_[eegmat_small.groups * 2.0, eegmat_small.groups - 1.0]
    reg = FoundationRegressor(**tiny("biot", max_epochs=1, **_common(eegmat_small))).fit(eegmat_small.X, y)
    back = FoundationRegressor.from_pretrained(reg.save_pretrained(tmp_path / "reg"))
    np.testing.assert_array_equal(back.predict(eegmat_small.X), reg.predict(eegmat_small.X))
    tr = FoundationTransformer(**tiny("labram", **_common(eegmat_small))).fit(eegmat_small.X)
    back = FoundationTransformer.from_pretrained(tr.save_pretrained(tmp_path / "tr"))
    np.testing.assert_array_equal(back.transform(eegmat_small.X), tr.transform(eegmat_small.X))
    assert list(back.get_feature_names_out()) == list(tr.get_feature_names_out())
    with pytest.raises(ValueError, match="holds a FoundationTransformer"):
        FoundationClassifier.from_pretrained(tmp_path / "tr")


def test_head_is_reinitialised_unless_kept(eegmat_small, tmp_path):
    clf = FoundationClassifier(**tiny("biot", max_epochs=1, **_common(eegmat_small))).fit(
        eegmat_small.X, eegmat_small.y)
    folder = clf.save_pretrained(tmp_path / "clf")
    fresh = FoundationClassifier(**tiny("biot", weights=str(folder), max_epochs=0, **_common(eegmat_small)))
    fresh.fit(eegmat_small.X, eegmat_small.y)
    assert set(fresh.weights_report_.initialised) == {"final_layer.classification_head.weight",
                                                      "final_layer.classification_head.bias"}
    three = np.array(["a", "b", "c"])[eegmat_small.groups % 3]
    with pytest.raises(WeightsError, match="keep_head"):
        FoundationClassifier(**tiny("biot", weights=str(folder), keep_head=True, max_epochs=0,
                                    **_common(eegmat_small))).fit(eegmat_small.X, three)


def test_registry_checkpoint_applies_its_contract(eegmat_small, tmp_path, monkeypatch):
    # An 18-channel BIOT release placed by hand: the adapter derives 18 bipolar pairs.
    from eegfm_sklearn.weights import resolve_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    card = get_model_card("biot")
    eff = card.for_checkpoint(card.get_checkpoint("biot-shhs-prest-18"))
    module = eff.build_module(18, 2000, 2, dict(card.tiny_kwargs))
    save_weights_dir(module, tmp_path / "biot18")
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "biot18"), **_common(eegmat_small)))
    with pytest.raises(WeightsError, match="encoder.channel_tokens.weight"):
        est.fit(eegmat_small.X)  # a 16-channel model cannot take 18-channel weights
    with pytest.raises(WeightsError, match="biot-pretrained-shhs-prest-18chs.*place the file by hand"):
        resolve_weights("biot-shhs-prest-18", card)  # offline, empty cache: says what to do
    # a folder recording its contract (as save_pretrained writes) gets the 18 pairs
    save_weights_dir(module, tmp_path / "biot18c", {"model": "biot", "checkpoint": "biot-shhs-prest-18",
                                                    "eegfm_sklearn": {}})
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "biot18c"), **_common(eegmat_small)))
    est.fit(eegmat_small.X)
    assert len(est.channel_report_.slots) == 18 and est.channel_report_.slots[-1] == "C4-A1"
    assert est.channel_report_.as_dict()["C3-A2"] == "interpolated"  # EEGMAT has no A1/A2 electrode
    assert est.contract_ == "biot-shhs-prest-18"
