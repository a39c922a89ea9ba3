"""Pretrained weights through the estimators: weights=, reports, save/load."""

import numpy as np
import pytest

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer, get_model_card
from eegfm_sklearn.weights import WeightsError, save_weights_dir

from conftest import MODELS, tiered, tiny


def _common(data, **extra):
    return {"sfreq": data.sfreq, "ch_names": data.ch_names, "random_state": 0, **extra}


@pytest.mark.parametrize("model", tiered(MODELS))
def test_weights_folder_loads_every_backbone_tensor(model, synthetic, tmp_path):
    source = FoundationTransformer(**tiny(model, **_common(synthetic, random_state=1))).fit(synthetic.X)
    save_weights_dir(source.backbone_, tmp_path / "ckpt", {"note": "fixture"})
    loaded = FoundationTransformer(**tiny(model, weights=str(tmp_path / "ckpt"), **_common(synthetic)))
    loaded.fit(synthetic.X)
    report = loaded.weights_report_
    head = get_model_card(model).head_prefixes
    assert all(not k.startswith(head) for k in report.loaded)
    backbone_keys = {k for k in loaded.backbone_.state_dict() if not k.startswith(head)}
    assert backbone_keys <= set(report.loaded)
    np.testing.assert_array_equal(loaded.transform(synthetic.X), source.transform(synthetic.X))
    random = FoundationTransformer(**tiny(model, **_common(synthetic))).fit(synthetic.X)
    assert random.weights_report_ is None
    assert not np.allclose(random.transform(synthetic.X), source.transform(synthetic.X))


def test_partial_checkpoint_is_an_error(synthetic, tmp_path):
    source = FoundationTransformer(**tiny("biot", **_common(synthetic))).fit(synthetic.X)
    state = source.backbone_.state_dict()
    dropped = next(k for k in state if k.startswith("encoder."))

    from safetensors.torch import save_file

    (tmp_path / "ckpt").mkdir()
    save_file({k: v.contiguous() for k, v in state.items() if k != dropped},
              str(tmp_path / "ckpt" / "model.safetensors"))
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "ckpt"), **_common(synthetic)))
    with pytest.raises(WeightsError, match=dropped.replace(".", r"\.")):
        est.fit(synthetic.X)


def test_checkpoint_of_another_model_is_refused(synthetic, tmp_path):
    source = FoundationTransformer(**tiny("labram", **_common(synthetic))).fit(synthetic.X)
    source.save_pretrained(tmp_path / "labram")
    with pytest.raises(WeightsError, match="holds a 'labram' model, not 'biot'"):
        FoundationTransformer(**tiny("biot", weights=str(tmp_path / "labram"), **_common(synthetic))).fit(
            synthetic.X)


@pytest.mark.parametrize("model", tiered(MODELS))
def test_save_pretrained_round_trips(model, synthetic, tmp_path):
    clf = FoundationClassifier(**tiny(model, max_epochs=1, **_common(synthetic))).fit(
        synthetic.X, synthetic.y)
    folder = clf.save_pretrained(tmp_path / "clf")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors"}
    back = FoundationClassifier.from_pretrained(folder)
    np.testing.assert_array_equal(back.predict_proba(synthetic.X), clf.predict_proba(synthetic.X))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.get_params()["max_epochs"] == 1 and back.channel_report_ == clf.channel_report_
    # weights=folder + keep_head + no training gives the same predictions too
    again = FoundationClassifier(**tiny(model, weights=str(folder), keep_head=True, max_epochs=0,
                                        **_common(synthetic))).fit(synthetic.X, synthetic.y)
    np.testing.assert_allclose(again.predict_proba(synthetic.X), clf.predict_proba(synthetic.X),
                               rtol=1e-6, atol=1e-6)


def test_regressor_and_transformer_round_trip(synthetic, tmp_path):
    y = np.c_[synthetic.groups * 2.0, synthetic.groups - 1.0]
    reg = FoundationRegressor(**tiny("biot", max_epochs=1, **_common(synthetic))).fit(synthetic.X, y)
    back = FoundationRegressor.from_pretrained(reg.save_pretrained(tmp_path / "reg"))
    np.testing.assert_array_equal(back.predict(synthetic.X), reg.predict(synthetic.X))
    tr = FoundationTransformer(**tiny("labram", **_common(synthetic))).fit(synthetic.X)
    back = FoundationTransformer.from_pretrained(tr.save_pretrained(tmp_path / "tr"))
    np.testing.assert_array_equal(back.transform(synthetic.X), tr.transform(synthetic.X))
    assert list(back.get_feature_names_out()) == list(tr.get_feature_names_out())
    with pytest.raises(ValueError, match="holds a FoundationTransformer"):
        FoundationClassifier.from_pretrained(tmp_path / "tr")


def test_head_is_reinitialised_unless_kept(synthetic, tmp_path):
    clf = FoundationClassifier(**tiny("biot", max_epochs=1, **_common(synthetic))).fit(
        synthetic.X, synthetic.y)
    folder = clf.save_pretrained(tmp_path / "clf")
    fresh = FoundationClassifier(**tiny("biot", weights=str(folder), max_epochs=0, **_common(synthetic)))
    fresh.fit(synthetic.X, synthetic.y)
    assert set(fresh.weights_report_.initialised) == {"final_layer.classification_head.weight",
                                                      "final_layer.classification_head.bias"}
    three = np.array(["a", "b", "c"])[synthetic.groups % 3]
    with pytest.raises(WeightsError, match="keep_head"):
        FoundationClassifier(**tiny("biot", weights=str(folder), keep_head=True, max_epochs=0,
                                    **_common(synthetic))).fit(synthetic.X, three)


def test_registry_checkpoint_applies_its_contract(synthetic, tmp_path, monkeypatch):
    # An 18-channel BIOT release placed by hand: read on the 16 TCP pairs, as the authors fine-tune it
    # (its two extra channel tokens are cut, and the weights report says so).
    from eegfm_sklearn.weights import resolve_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    card = get_model_card("biot")
    eff = card.for_checkpoint(card.get_checkpoint("biot-shhs-prest-18"))
    module = eff.build_module(18, 400, 2, dict(card.tiny_kwargs))
    save_weights_dir(module, tmp_path / "biot18")
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "biot18"), **_common(synthetic)))
    est.fit(synthetic.X)
    assert any(line.startswith("encoder.channel_tokens.weight (18, 32) -> (16, 32)")
               for line in est.weights_report_.adapted)
    with pytest.raises(WeightsError, match="(?s)biot-pretrained-shhs-prest-18chs.*place the file by hand"):
        resolve_weights("biot-shhs-prest-18", card)  # offline, empty cache: says what to do
    # a folder recording its contract (as save_pretrained writes) keeps it
    save_weights_dir(module, tmp_path / "biot18c", {"model": "biot", "checkpoint": "biot-shhs-prest-18",
                                                    "eegfm_sklearn": {}})
    est = FoundationTransformer(**tiny("biot", weights=str(tmp_path / "biot18c"), **_common(synthetic)))
    est.fit(synthetic.X)
    assert len(est.channel_report_.slots) == 16 and est.channel_report_.slots[-1] == "P4-O2"
    assert est.contract_ == "biot-shhs-prest-18"


def _cache_served(data, tmp_path, **extra):
    """A transformer whose fit was served from a warm embedding cache (no module built)."""
    params = tiny("labram", cache=str(tmp_path / "cache"), **_common(data, **extra))
    first = FoundationTransformer(**params).fit(data.X)
    expected = first.transform(data.X)
    served = FoundationTransformer(**params).fit(data.X)
    assert "module_" not in served.__dict__  # the cache answered: nothing was built
    return served, expected


def test_save_pretrained_after_a_cache_served_fit_round_trips(synthetic, tmp_path):
    served, expected = _cache_served(synthetic, tmp_path)
    folder = served.save_pretrained(tmp_path / "saved")
    back = FoundationTransformer.from_pretrained(folder)
    assert back.cache is not None and back.embedding_size_ == served.embedding_size_
    back.set_params(cache=None)  # compute, do not read the cache the first fit filled
    np.testing.assert_array_equal(back.transform(synthetic.X), expected)


def test_pickle_and_joblib_after_a_cache_served_fit(synthetic, tmp_path):
    import pickle

    import joblib

    served, expected = _cache_served(synthetic, tmp_path)
    joblib.dump(served, tmp_path / "served.joblib")
    for copy in (pickle.loads(pickle.dumps(served)), joblib.load(tmp_path / "served.joblib")):
        copy.set_params(cache=None)  # forces the module to be built from the weights
        np.testing.assert_array_equal(copy.transform(synthetic.X), expected)


def test_fit_and_from_pretrained_share_one_builder(synthetic, tmp_path, monkeypatch):
    from eegfm_sklearn.estimators.base import FoundationEstimatorBase

    calls = []
    original = FoundationEstimatorBase._set_fitted

    def spy(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FoundationEstimatorBase, "_set_fitted", spy)
    clf = FoundationClassifier(**tiny("biot", max_epochs=1, **_common(synthetic))).fit(synthetic.X, synthetic.y)
    FoundationClassifier.from_pretrained(clf.save_pretrained(tmp_path / "clf"))
    assert calls == ["FoundationClassifier", "FoundationClassifier"]


def test_post_build_is_applied_once(synthetic, tmp_path, monkeypatch):
    # BENDR's authors' form (a checkpoint's contract) is applied by build_module, not again on load.
    import dataclasses

    from eegfm_sklearn import cards

    card = get_model_card("bendr")
    ckpt = next(c for c in card.checkpoints if "post_build" in c.card_overrides)
    original = ckpt.card_overrides["post_build"]
    calls = []
    spied = dataclasses.replace(ckpt, card_overrides={**ckpt.card_overrides,
                                                       "post_build": lambda m: calls.append(1) or original(m)})
    patched = dataclasses.replace(card, checkpoints=tuple(spied if c is ckpt else c for c in card.checkpoints))
    monkeypatch.setitem(cards._REGISTRY, "bendr", patched)
    # 19 channels + the scale channel
    module = card.for_checkpoint(ckpt).build_module(20, 512, 1, dict(card.tiny_kwargs))
    save_weights_dir(module, tmp_path / "bendr", {"model": "bendr", "checkpoint": ckpt.name, "eegfm_sklearn": {}})
    est = FoundationTransformer(**tiny("bendr", weights=str(tmp_path / "bendr"), **_common(synthetic)))
    est.fit(synthetic.X)
    assert len(calls) == 1 and est.contract_ == ckpt.name
    assert type(est.backbone_.contextualizer.norm).__name__ == "Identity"


def test_from_pretrained_on_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*save_pretrained"):
        FoundationClassifier.from_pretrained(tmp_path / "never-saved")
