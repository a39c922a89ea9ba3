"""scikit-learn contract of every estimator, for every model (tiny configs, synthetic windows)."""

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

from conftest import MODELS, fit_tiny, tiered, tiny

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


_fit = fit_tiny


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_data_free_sklearn_checks(cls, check):
    check(cls.__name__, cls("biot"))


def test_list_models_and_cards():
    assert {"bendr", "biot", "labram"} <= set(list_models())
    card = get_model_card("LaBraM")
    assert card.sfreq == 200 and card.embedding_size == 200 and card.window.multiple == 200
    assert get_model_card("biot").channels.slots()[0] == "FP1-F7"
    assert get_model_card("bendr").sfreq == 256
    with pytest.raises(ValueError, match="Unknown model 'eegnet'.*bendr"):
        get_model_card("eegnet")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_not_fitted_error(cls, synthetic):
    est = cls(**_params(synthetic, "biot"))
    method = est.transform if cls is FoundationTransformer else est.predict
    with pytest.raises(NotFittedError):
        method(synthetic.X)
    with pytest.raises(NotFittedError):
        _ = est.backbone_


@pytest.mark.parametrize("model", tiered(MODELS))
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_clone_pickle_joblib_round_trips(cls, model, synthetic, fitted_tiny, tmp_path):
    unfitted = cls(**_params(synthetic, model))
    for copy in (clone(unfitted), pickle.loads(pickle.dumps(unfitted))):
        assert copy.get_params() == unfitted.get_params()
    est = fitted_tiny(cls, model)
    before = _outputs(est, synthetic.X)
    joblib.dump(est, tmp_path / "est.joblib")
    for copy in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "est.joblib")):
        np.testing.assert_array_equal(_outputs(copy, synthetic.X), before)
        assert type(copy.backbone_) is type(est.backbone_)
    refit = _fit(cls, synthetic, model)  # same seed, same result
    np.testing.assert_allclose(_outputs(refit, synthetic.X), before, rtol=1e-5, atol=1e-5)
    fresh = clone(est)
    assert not hasattr(fresh, "module_") and fresh.get_params() == est.get_params()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_leaves_params_untouched(cls, synthetic, fitted_tiny):
    est = fitted_tiny(cls, "labram")
    params = _params(synthetic, "labram")
    for key, value in params.items():
        assert est.get_params()[key] == value
    assert est.n_features_in_ == 19
    assert all(not k.endswith("_") or k == "n_features_in_" for k in est.get_params())


def test_clone_of_fitted_refits_on_another_channel_set(synthetic):
    est = _fit(FoundationClassifier, synthetic, "bendr")
    # P7/P8 do not fill BENDR's T5/T6 (names matched exactly, as the authors' DN3): interpolated
    assert est.channel_report_.count("matched") == 17
    other = clone(est).set_params(ch_names=synthetic.ch_names[:12])
    other.fit(synthetic.X[:, :12], synthetic.y)
    assert other.n_features_in_ == 12
    assert other.channel_report_.count("interpolated") == 7
    assert other.predict(synthetic.X[:, :12]).shape == (len(synthetic.y),)
    assert est.channel_report_.count("matched") == 17  # the original is untouched


def test_transformer_outputs_and_feature_names(synthetic):
    tr = _fit(FoundationTransformer, synthetic, "labram")
    E = tr.transform(synthetic.X)
    assert E.dtype == np.float32 and E.shape == (len(synthetic.X), tr.embedding_size_)
    names = tr.get_feature_names_out()
    assert len(names) == E.shape[1] and names[0] == "foundationtransformer0"
    df = tr.set_output(transform="pandas").transform(synthetic.X)
    assert list(df.columns) == list(names)
    np.testing.assert_array_equal(df.to_numpy(), E)


def test_full_size_embedding_sizes_match_cards(synthetic):
    for model in ("biot", "labram"):
        tr = FoundationTransformer(model, sfreq=synthetic.sfreq, ch_names=synthetic.ch_names)
        E = tr.fit_transform(synthetic.X[:4])
        assert E.shape == (4, get_model_card(model).embedding_size)


def test_classifier_string_labels_and_outputs(synthetic, fitted_tiny):
    clf = fitted_tiny(FoundationClassifier, "biot")
    assert list(clf.classes_) == ["arithmetic", "rest"]
    pred = clf.predict(synthetic.X)
    proba = clf.predict_proba(synthetic.X)
    dec = clf.decision_function(synthetic.X)
    assert proba.shape == (len(pred), 2) and dec.shape == (len(pred),)
    # the three outputs tell one story, columns in the order of classes_: the probability of
    # classes_[1] is the sigmoid of the logit difference, the prediction the likelier class
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-dec.astype(float))), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(1)])
    np.testing.assert_array_equal(pred, clf.classes_[(dec > 0).astype(int)])
    assert np.ptp(dec) > 0  # the windows' scores differ: the head reads the input
    assert len(clf.history_) == 1


def test_multiclass_decision_function(synthetic):
    y = np.array(["a", "b", "c"])[synthetic.groups % 3]
    clf = FoundationClassifier(**_params(synthetic, "labram", max_epochs=1)).fit(synthetic.X, y)
    assert clf.decision_function(synthetic.X).shape == (len(y), 3)
    assert list(clf.classes_) == ["a", "b", "c"]


def test_regressor_1d_and_2d_targets(synthetic):
    y1 = synthetic.groups.astype(float) * 10 + 100
    reg = FoundationRegressor(**_params(synthetic, "biot", max_epochs=2, lr=1e-3)).fit(synthetic.X, y1)
    p1 = reg.predict(synthetic.X)
    assert p1.shape == y1.shape
    assert 80 < p1.mean() < 140  # predictions come back in the target's units
    y2 = np.c_[y1, -y1]
    p2 = clone(reg).fit(synthetic.X, y2).predict(synthetic.X)
    assert p2.shape == y2.shape
    assert np.isfinite(reg.score(synthetic.X, y1))


def test_pipeline_cross_val_score_and_gridsearch(synthetic):
    pipe = make_pipeline(FoundationTransformer(**_params(synthetic, "labram")), LogisticRegression())
    scores = cross_val_score(pipe, synthetic.X, synthetic.y, groups=synthetic.groups, cv=GroupKFold(2))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    X, y, groups = synthetic.X, synthetic.y, synthetic.groups
    base, cv, lrs = FoundationClassifier(**_params(synthetic, "biot", max_epochs=1)), GroupKFold(2), [1e-4, 1e-2]
    grid = GridSearchCV(base, {"lr": lrs}, cv=cv).fit(X, y, groups=groups)
    # Each candidate scored on its own (seeded fits are deterministic): the grid's scores are those,
    # and the candidate it keeps is the best of them.
    own = [cross_val_score(clone(base).set_params(lr=lr), X, y, groups=groups, cv=cv).mean() for lr in lrs]
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], own, rtol=1e-12)
    best = lrs[int(np.argmax(own))]
    assert grid.best_params_ == {"lr": best}
    # The refit model is a fit with that learning rate, and the learning rate changes the model.
    direct = {lr: clone(base).set_params(lr=lr).fit(X, y).predict_proba(X) for lr in lrs}
    np.testing.assert_allclose(grid.predict_proba(X), direct[best], rtol=1e-6, atol=1e-7)
    assert np.abs(direct[1e-4] - direct[1e-2]).max() > 1e-3


def test_labram_in_cross_val_score_with_subset_of_channels(synthetic):
    # braindecode's Labram needs ch_names in forward; skorch does not pass them.
    clf = FoundationClassifier(**_params(synthetic, "labram", max_epochs=1))
    X = synthetic.X[:, 3:15]
    clf.set_params(ch_names=synthetic.ch_names[3:15])
    scores = cross_val_score(clf, X, synthetic.y, groups=synthetic.groups, cv=GroupKFold(2))
    assert np.all(np.isfinite(scores))


def test_verbose_describes_preprocessing(synthetic, capsys):
    FoundationTransformer(**_params(synthetic, "bendr", verbose=1)).fit(synthetic.X)
    out = capsys.readouterr().out
    # the synthetic data name T3/T4: BENDR matches names exactly, as the authors' DN3 mapping
    assert "resample: 250 Hz -> 256 Hz" in out and "17 matched" in out and "2 interpolated" in out
    assert "SCALE" in out


def test_units_volts_give_same_embeddings(synthetic, fitted_tiny):
    uv = fitted_tiny(FoundationTransformer, "labram")
    v = FoundationTransformer(**_params(synthetic, "labram", units="V")).fit(synthetic.X * 1e-6)
    np.testing.assert_allclose(uv.transform(synthetic.X), v.transform(synthetic.X * 1e-6), atol=1e-4)


def test_transformer_pooling_options(synthetic):
    common = _params(synthetic, "labram")
    cls = FoundationTransformer(**common).fit(synthetic.X)
    mean = FoundationTransformer(**common, pooling="mean").fit(synthetic.X)
    flat = FoundationTransformer(**common, pooling="flatten").fit(synthetic.X)
    n_tokens = 19 * 2  # 19 channels x 2 patches of 200 samples (2 s at 200 Hz)
    assert cls.embedding_size_ == mean.embedding_size_ == 200 and flat.embedding_size_ == 200 * n_tokens
    assert not np.allclose(cls.transform(synthetic.X), mean.transform(synthetic.X))
    with pytest.raises(ValueError, match="attentive' is learned"):
        FoundationTransformer(**common, pooling="attentive").fit(synthetic.X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_param_is_declared_once_and_keyword_only(cls):
    import inspect

    params = cls("biot").get_params()
    assert set(cls._parameter_constraints) == set(params)
    signature = inspect.signature(cls.__init__).parameters
    assert signature["model"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    # No model is chosen for the user: generic code names none.
    assert signature["model"].default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="model"):
        cls()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in signature.items()
               if name not in ("self", "model"))
    with pytest.raises(TypeError, match="positional"):
        cls("biot", "labram-base")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_default_params_pass_their_own_constraints(cls):
    cls("biot")._validate_params()
    cls(**tiny("bendr", sfreq=np.float32(250), ch_names=("Fp1", "Fp2"), random_state=np.int64(3)))._validate_params()
