"""scikit-learn contract of every estimator, for every model (tiny configs)."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as checks

from eegfm_sklearn import (
    FoundationClassifier,
    FoundationRegressor,
    FoundationTransformer,
    get_model_card,
    list_models,
)

from conftest import MODELS, tiny

ESTIMATORS = (FoundationTransformer, FoundationClassifier, FoundationRegressor)
DATA_FREE_CHECKS = (
    checks.check_estimator_cloneable,
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_repr,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_mixin_order,
    checks.check_do_not_raise_errors_in_init_or_set_params,
)


def _params(data, model, **extra):
    return tiny(model, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, **extra)


def _outputs(est, X):
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.transform(X) if hasattr(est, "transform") else est.predict(X)


def _fit(cls, data, model, **extra):
    params = _params(data, model, **extra)
    if cls is FoundationTransformer:
        return cls(**params).fit(data.X)
    params.setdefault("max_epochs", 1)
    y = data.y if cls is FoundationClassifier else (data.groups * 1.5).astype(float)
    return cls(**params).fit(data.X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_data_free_sklearn_checks(cls, check):
    check(cls.__name__, cls())


def test_list_models_and_cards():
    assert {"bendr", "biot", "labram"} <= set(list_models())
    card = get_model_card("LaBraM")
    assert card.sfreq == 200 and card.embedding_size == 200 and card.window.multiple == 200
    assert get_model_card("biot").channels.slots()[0] == "FP1-F7"
    assert get_model_card("bendr").sfreq == 256
    with pytest.raises(ValueError, match="Unknown model 'eegnet'.*bendr"):
        get_model_card("eegnet")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_not_fitted_error(cls, eegmat_small):
    est = cls(**_params(eegmat_small, "biot"))
    method = est.transform if cls is FoundationTransformer else est.predict
    with pytest.raises(NotFittedError):
        method(eegmat_small.X)
    with pytest.raises(NotFittedError):
        est.backbone_


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_clone_pickle_joblib_round_trips(cls, model, eegmat_small, tmp_path):
    unfitted = cls(**_params(eegmat_small, model))
    for copy in (clone(unfitted), pickle.loads(pickle.dumps(unfitted))):
        assert copy.get_params() == unfitted.get_params()
    est = _fit(cls, eegmat_small, model)
    before = _outputs(est, eegmat_small.X)
    joblib.dump(est, tmp_path / "est.joblib")
    for copy in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "est.joblib")):
        np.testing.assert_array_equal(_outputs(copy, eegmat_small.X), before)
        assert type(copy.backbone_) is type(est.backbone_)
    refit = _fit(cls, eegmat_small, model)  # same seed, same result
    np.testing.assert_allclose(_outputs(refit, eegmat_small.X), before, rtol=1e-5, atol=1e-5)
    fresh = clone(est)
    assert not hasattr(fresh, "module_") and fresh.get_params() == est.get_params()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_leaves_params_untouched(cls, eegmat_small):
    est = _fit(cls, eegmat_small, "labram")
    params = _params(eegmat_small, "labram")
    for key, value in params.items():
        assert est.get_params()[key] == value
    assert est.n_features_in_ == 19
    assert all(not k.endswith("_") or k == "n_features_in_" for k in est.get_params())


def test_clone_of_fitted_refits_on_another_channel_set(eegmat_small):
    est = _fit(FoundationClassifier, eegmat_small, "bendr")
    assert est.channel_report_.count("matched") == 19
    other = clone(est).set_params(ch_names=eegmat_small.ch_names[:12])
    other.fit(eegmat_small.X[:, :12], eegmat_small.y)
    assert other.n_features_in_ == 12
    assert other.channel_report_.count("interpolated") == 7
    assert other.predict(eegmat_small.X[:, :12]).shape == (len(eegmat_small.y),)
    assert est.channel_report_.count("matched") == 19  # the original is untouched


def test_transformer_outputs_and_feature_names(eegmat_small):
    tr = _fit(FoundationTransformer, eegmat_small, "labram")
    E = tr.transform(eegmat_small.X)
    assert E.dtype == np.float32 and E.shape == (len(eegmat_small.X), tr.embedding_size_)
    names = tr.get_feature_names_out()
    assert len(names) == E.shape[1] and names[0] == "foundationtransformer0"
    df = tr.set_output(transform="pandas").transform(eegmat_small.X)
    assert list(df.columns) == list(names)
    np.testing.assert_array_equal(df.to_numpy(), E)


def test_full_size_embedding_sizes_match_cards(eegmat_small):
    for model in ("biot", "labram"):
        tr = FoundationTransformer(model, sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names)
        E = tr.fit_transform(eegmat_small.X[:4])
        assert E.shape == (4, get_model_card(model).embedding_size)


def test_classifier_string_labels_and_outputs(eegmat_small):
    clf = _fit(FoundationClassifier, eegmat_small, "biot")
    assert list(clf.classes_) == ["arithmetic", "rest"]
    pred = clf.predict(eegmat_small.X)
    assert set(pred) <= {"arithmetic", "rest"}
    proba = clf.predict_proba(eegmat_small.X)
    assert proba.shape == (len(pred), 2) and np.allclose(proba.sum(1), 1)
    dec = clf.decision_function(eegmat_small.X)
    assert dec.shape == (len(pred),)
    np.testing.assert_array_equal(pred, clf.classes_[(dec > 0).astype(int)])
    assert len(clf.history_) == 1


def test_multiclass_decision_function(eegmat_small):
    y = np.array(["a", "b", "c"])[eegmat_small.groups % 3]
    clf = FoundationClassifier(**_params(eegmat_small, "labram", max_epochs=1)).fit(eegmat_small.X, y)
    assert clf.decision_function(eegmat_small.X).shape == (len(y), 3)
    assert list(clf.classes_) == ["a", "b", "c"]


def test_regressor_1d_and_2d_targets(eegmat_small):
    y1 = eegmat_small.groups.astype(float) * 10 + 100
    reg = FoundationRegressor(**_params(eegmat_small, "biot", max_epochs=2, lr=1e-3)).fit(eegmat_small.X, y1)
    p1 = reg.predict(eegmat_small.X)
    assert p1.shape == y1.shape
    assert 80 < p1.mean() < 140  # predictions come back in the target's units
    y2 = np.c_[y1, -y1]
    p2 = clone(reg).fit(eegmat_small.X, y2).predict(eegmat_small.X)
    assert p2.shape == y2.shape
    assert np.isfinite(reg.score(eegmat_small.X, y1))


def test_pipeline_cross_val_score_and_gridsearch(eegmat_small):
    pipe = make_pipeline(FoundationTransformer(**_params(eegmat_small, "labram")), LogisticRegression())
    scores = cross_val_score(pipe, eegmat_small.X, eegmat_small.y, groups=eegmat_small.groups, cv=GroupKFold(2))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    grid = GridSearchCV(
        FoundationClassifier(**_params(eegmat_small, "biot", max_epochs=1)),
        {"lr": [1e-4, 1e-3]}, cv=GroupKFold(2),
    ).fit(eegmat_small.X, eegmat_small.y, groups=eegmat_small.groups)
    assert grid.best_params_["lr"] in (1e-4, 1e-3) and len(grid.cv_results_["mean_test_score"]) == 2


def test_labram_in_cross_val_score_with_subset_of_channels(eegmat_small):
    # braindecode's Labram needs ch_names in forward; skorch does not pass them.
    clf = FoundationClassifier(**_params(eegmat_small, "labram", max_epochs=1))
    X = eegmat_small.X[:, 3:15]
    clf.set_params(ch_names=eegmat_small.ch_names[3:15])
    scores = cross_val_score(clf, X, eegmat_small.y, groups=eegmat_small.groups, cv=GroupKFold(2))
    assert np.all(np.isfinite(scores))


def test_verbose_describes_preprocessing(eegmat_small, capsys):
    FoundationTransformer(**_params(eegmat_small, "bendr", verbose=1)).fit(eegmat_small.X)
    out = capsys.readouterr().out
    assert "resample: 500 Hz -> 256 Hz" in out and "19 matched" in out and "SCALE" in out


def test_units_volts_give_same_embeddings(eegmat_small):
    uv = _fit(FoundationTransformer, eegmat_small, "labram")
    v = FoundationTransformer(**_params(eegmat_small, "labram", units="V")).fit(eegmat_small.X * 1e-6)
    np.testing.assert_allclose(uv.transform(eegmat_small.X), v.transform(eegmat_small.X * 1e-6), atol=1e-4)


def test_transformer_pooling_options(eegmat_small):
    common = _params(eegmat_small, "labram")
    cls = FoundationTransformer(**common).fit(eegmat_small.X)
    mean = FoundationTransformer(**common, pooling="mean").fit(eegmat_small.X)
    flat = FoundationTransformer(**common, pooling="flatten").fit(eegmat_small.X)
    n_tokens = 19 * 4  # 19 channels x 4 patches of 200 samples
    assert cls.embedding_size_ == mean.embedding_size_ == 200 and flat.embedding_size_ == 200 * n_tokens
    assert not np.allclose(cls.transform(eegmat_small.X), mean.transform(eegmat_small.X))
    with pytest.raises(ValueError, match="attentive' is learned"):
        FoundationTransformer(**common, pooling="attentive").fit(eegmat_small.X)
