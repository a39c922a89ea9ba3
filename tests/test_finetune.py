"""Fine-tuning modes train exactly what they say (tiny configs, real EEGMAT windows)."""

import pickle
import re

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from skorch.callbacks import Callback

from eegfm_sklearn import FoundationClassifier, FoundationRegressor, get_model_card
from eegfm_sklearn import finetune as ft
from eegfm_sklearn.backbone import PoolingHead
from eegfm_sklearn.estimators.training import warmup_cosine

from conftest import MODELS, card_module, tiered, tiny


class Recorder(Callback):
    """Keeps the weights at the start of training and each batch's learning rates."""

    def on_train_begin(self, net, **kwargs):
        self.start = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        self.groups = [(list(g["names"]), g["lr"]) for g in net.optimizer_.param_groups]
        self.criterion_weight = getattr(net.criterion_, "weight", None)
        self.lrs = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs.append([g["lr"] for g in net.optimizer_.param_groups])


def _params(data, model, n_blocks=2, **extra):
    params = tiny(model, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, batch_size=16, **extra)
    depth = get_model_card(model).depth_kwarg
    if depth is not None:
        params["model_kwargs"][depth] = n_blocks
    return params


def _fit(data, model, cls=FoundationClassifier, y=None, **extra):
    rec = Recorder()
    extra.setdefault("max_epochs", 1)
    extra.setdefault("lr", 1e-2)
    if y is None:
        y = data.y if cls is FoundationClassifier else data.groups.astype(float)
    est = cls(**_params(data, model, callbacks=[rec], **extra)).fit(data.X, y)
    return est, rec


def _expected_trainable(card, names, mode, k=1, n_blocks=2):
    """Trainable CardModule parameter names per mode, from the card's facts."""
    head = tuple("backbone." + p for p in card.head_prefixes)
    stem = tuple("backbone." + p for p in card.stem_prefixes)
    if mode == "full":
        return set(names)
    if mode == "linear":
        return {n for n in names if n.startswith(head)}
    if mode == "partial":
        block = "backbone." + card.block_path + "."
        frozen_blocks = tuple(f"{block}{i}." for i in range(n_blocks - k))
        return {n for n in names if not n.startswith(stem + frozen_blocks)}
    return {n for n in names if n.startswith(head) or ".lora_" in n}


def _unsupported(card, mode, data):
    """For a mode the card cannot offer (no blocks to unfreeze, no Linear layers to adapt):
    assert that fitting says so clearly, and return True."""
    missing = {"partial": card.block_path is None, "lora": not card.lora_targets}.get(mode, False)
    if missing:
        with pytest.raises(ValueError, match="(block|lora_targets|target_modules)"):
            _fit(data, card.name, finetune=mode)
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("model", tiered(MODELS))
@pytest.mark.parametrize("mode", ["linear", "full", "partial", "lora"])
def test_each_mode_trains_exactly_its_parameters(model, mode, eegmat_small):
    card = get_model_card(model)
    if _unsupported(card, mode, eegmat_small):
        return
    est, rec = _fit(eegmat_small, model, finetune=mode, n_unfrozen_blocks=1)
    params = dict(est.module_.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable == _expected_trainable(card, params, mode)
    assert est.n_trainable_params_ == sum(params[n].numel() for n in trainable)
    for name, p in params.items():
        if name not in trainable:  # frozen tensors are bit-identical after fit
            assert torch.equal(p.detach(), rec.start[name]), name
    head = [n for n in trainable if n.startswith(tuple("backbone." + p for p in card.head_prefixes))]
    assert head and all(not torch.equal(params[n].detach(), rec.start[n]) for n in head)
    assert type(est.backbone_) is card.module_class


@pytest.mark.slow
@pytest.mark.parametrize("model", tiered(MODELS))
def test_lora_adds_adapters_and_leaves_base_weights(model, eegmat_small):
    card = get_model_card(model)
    if _unsupported(card, "lora", eegmat_small):
        return
    start, _ = _fit(eegmat_small, model, max_epochs=0)  # same seed: the initial weights
    est, rec = _fit(eegmat_small, model, finetune="lora", lora_rank=4)
    base = start.backbone_.state_dict()
    lora = est.backbone_.state_dict()
    adapted = [k[: -len(".base_layer.weight")] for k in lora if k.endswith(".base_layer.weight")]
    assert adapted and all(k.endswith(card.lora_targets) for k in adapted)
    for key, value in base.items():  # every base tensor but the head's is still there, unchanged
        if key.startswith(card.head_prefixes):
            continue
        prefix, _, leaf = key.rpartition(".")
        key = f"{prefix}.base_layer.{leaf}" if prefix in adapted else key
        assert torch.equal(lora[key], value), key
    # Rank-4 A/B pairs per adapted Linear; each B moved, so the adapter is on the forward path.
    expected = 0
    for name in adapted:
        layer = start.backbone_.get_submodule(name)
        expected += 4 * (layer.in_features + layer.out_features)
        assert lora[f"{name}.lora_A.default.weight"].shape == (4, layer.in_features)
        b = f"{name}.lora_B.default.weight"
        assert not torch.equal(lora[b], rec.start[f"backbone.{b}"])
    head = sum(p.numel() for n, p in est.backbone_.named_parameters() if n.startswith("final_layer."))
    assert est.n_trainable_params_ == expected + head


def test_layer_decay_gives_documented_rates_through_the_schedule(eegmat_small):
    model, lr, decay = "labram", 1e-3, 0.5
    card = get_model_card(model)
    est, rec = _fit(eegmat_small, model, finetune="full", lr=lr, layer_decay=decay, max_epochs=3,
                    lr_schedule="cosine", warmup_epochs=1)
    depth = {}  # L = 2 blocks: stem lr*d^3, block 0 lr*d^2, block 1 lr*d, neck/head lr
    for names, group_lr in rec.groups:
        for name in names:
            rel = name.removeprefix("backbone.")
            if rel.startswith(card.stem_prefixes):
                expected = lr * decay**3
            elif rel.startswith("blocks."):
                expected = lr * decay ** (2 - int(rel.split(".")[1]))
            else:
                expected = lr
            depth[name] = expected
            assert group_lr == pytest.approx(expected), name
    assert set(depth) == {n for n, _ in est.module_.named_parameters()}
    # The schedule scales all groups alike: 3 batches of warmup, then cosine.
    lrs = np.array(rec.lrs)
    ratios = lrs / lrs[:, -1:]
    np.testing.assert_allclose(ratios, np.broadcast_to(ratios[0], ratios.shape), rtol=1e-6)
    head = lrs[:, -1]
    np.testing.assert_allclose(head[:3], lr * np.array([1, 2, 3]) / 3)
    assert np.all(np.diff(head[3:]) < 0) and head[-1] < 0.2 * lr


def test_warmup_cosine_factor():
    f = warmup_cosine(2, 10, "cosine")
    assert [f(0), f(1), f(2)] == [0.5, 1.0, 1.0]
    assert f(6) == pytest.approx(0.5) and f(10) == pytest.approx(0.0)
    assert warmup_cosine(0, 10, "constant")(7) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("model", tiered(MODELS))
def test_lora_pickles_and_round_trips(model, eegmat_small, tmp_path):
    if _unsupported(get_model_card(model), "lora", eegmat_small):
        return
    est, _ = _fit(eegmat_small, model, finetune="lora", pooling="attentive" if model == "biot" else None)
    before = est.predict_proba(eegmat_small.X)
    joblib.dump(est, tmp_path / "est.joblib")
    for copy in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "est.joblib")):
        np.testing.assert_array_equal(copy.predict_proba(eegmat_small.X), before)
        assert type(copy.backbone_) is type(est.backbone_)
        assert copy.backbone_.state_dict().keys() == est.backbone_.state_dict().keys()
        assert [n for n, p in copy.module_.named_parameters() if p.requires_grad] == \
            [n for n, p in est.module_.named_parameters() if p.requires_grad]
    # save_pretrained keeps unmerged adapters (and a pooling head) for from_pretrained, and
    # writes a merged plain braindecode backbone as model.safetensors for weights=
    folder = est.save_pretrained(tmp_path / "lora")
    back = FoundationClassifier.from_pretrained(folder)
    np.testing.assert_allclose(back.predict_proba(eegmat_small.X), before, atol=1e-6)
    assert any("lora_A" in n for n, _ in back.backbone_.named_parameters())
    assert back.module_.pooling == est.module_.pooling
    from safetensors.torch import load_file

    plain = load_file(str(folder / "model.safetensors"))
    assert not any("lora_" in k or "base_layer" in k for k in plain)
    if model != "labram":  # merging is model-independent peft code: one card checks it
        return
    merged, _ = _fit(eegmat_small, model, finetune="lora", merge_lora=True)
    names = [n for n, _ in merged.backbone_.named_parameters()]
    assert not any("lora_" in n or "base_layer" in n for n in names)
    np.testing.assert_allclose(merged.predict_proba(eegmat_small.X), before, atol=1e-5)
    assert merged.module_.peft_config is None
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(merged)).predict_proba(eegmat_small.X),
                                  merged.predict_proba(eegmat_small.X))
    saved = FoundationClassifier.from_pretrained(merged.save_pretrained(tmp_path / "merged"))
    np.testing.assert_allclose(saved.predict_proba(eegmat_small.X), merged.predict_proba(eegmat_small.X),
                               atol=1e-6)


@pytest.mark.parametrize("model", tiered(MODELS))
def test_poolings_of_each_card(model, eegmat_small):
    card = get_model_card(model)
    n_times = card.window.min_samples * 2 // card.window.multiple * card.window.multiple
    module = card_module(model, n_times).eval()
    x = torch.randn(3, module.build_args["n_chans"], n_times)
    if card.tokens is None:  # only braindecode's own head: no other pooling is offered
        assert card.poolings == (card.default_pooling,)
        with pytest.raises(ValueError, match="exposes no tokens|supports pooling"):
            module.set_pooling("attentive")
        return
    with torch.no_grad():
        native = module(x)
        # The card's tokens, pooled its default way, are braindecode's own features.
        tokens = card.tokens(module.backbone, x, **module._forward_kwargs())
        torch.testing.assert_close(PoolingHead(card.default_pooling, native.shape[1], 1, 2).pool(tokens), native)
        _, n_tokens, dim = tokens["tokens"].shape  # braindecode's head may flatten them (MEDFormer)
        for kind in card.poolings:
            pooled = module.set_pooling(kind)(x)
            assert pooled.shape == (3, n_tokens * dim if kind == "flatten" else dim)
        module.set_pooling(None)
    kind = "attentive"  # one estimator per model through the pooling-head path
    if kind not in card.poolings:
        with pytest.raises(ValueError, match=re.escape(f"supports pooling in {list(card.poolings)}")):
            _fit(eegmat_small, model, finetune="linear", pooling=kind)
        return
    est, _ = _fit(eegmat_small, model, finetune="linear", pooling=kind)
    assert est.predict_proba(eegmat_small.X).shape == (len(eegmat_small.y), 2)
    assert est.module_.pooling == kind  # only the pooling head trains; braindecode's is bypassed
    assert {n.split(".")[0] for n, p in est.module_.named_parameters() if p.requires_grad} == {"head"}


def test_unsupported_pooling_names_the_supported_ones(eegmat_small):
    est = FoundationClassifier(**_params(eegmat_small, "biot", pooling="cls"))
    with pytest.raises(ValueError, match=r"'biot' supports pooling in \['mean', 'flatten', 'attentive'\]"):
        est.fit(eegmat_small.X, eegmat_small.y)


@pytest.mark.parametrize("extra, match", [
    ({"finetune": "adapter"}, r"'finetune' parameter of FoundationClassifier must be a str among"),
    ({"finetune": "partial", "n_unfrozen_blocks": 3}, r"has 2 blocks here; n_unfrozen_blocks .* \[0, 2\]"),
    ({"finetune": "full", "peft_config": "x"}, r"'peft_config' parameter .* must be .* 'to_dict'"),
    ({"finetune": "full", "merge_lora": True}, "merge_lora=True needs finetune='lora'"),
    ({"keep_head": True, "pooling": "mean"}, "keep_head=True keeps braindecode's head"),
    ({"layer_decay": 1.5}, r"'layer_decay' parameter .* must be .*range \(0.0, 1.0\]"),
    ({"lr_schedule": "step"}, r"'lr_schedule' parameter .* must be a str among"),
    ({"class_weight": {"sleep": 2.0}}, "unknown classes"),
])
def test_bad_finetune_params(extra, match, eegmat_small):
    with pytest.raises(ValueError, match=match):
        FoundationClassifier(**_params(eegmat_small, "labram", max_epochs=1, **extra)).fit(
            eegmat_small.X, eegmat_small.y)


def test_class_weight_is_for_classifiers(eegmat_small):
    with pytest.raises(ValueError, match="class_weight applies to classifiers only"):
        FoundationRegressor(**_params(eegmat_small, "labram", class_weight="balanced")).fit(
            eegmat_small.X, eegmat_small.groups.astype(float))


def test_other_peft_methods_through_peft_config(eegmat_small):
    from peft import IA3Config, LoraConfig

    ia3 = IA3Config()
    est, _ = _fit(eegmat_small, "labram", finetune="lora", peft_config=ia3)
    assert ia3.target_modules is None  # the user's config is left untouched
    names = [n for n, p in est.backbone_.named_parameters() if p.requires_grad]
    assert any("ia3_l" in n for n in names) and not any("lora_" in n for n in names)
    assert est.module_.peft_config.feedforward_modules == ["mlp.0", "mlp.2"]
    dora, _ = _fit(eegmat_small, "biot", finetune="lora", peft_config=LoraConfig(r=2, use_dora=True))
    assert any("lora_magnitude_vector" in n for n, _ in dora.backbone_.named_parameters())
    copy = pickle.loads(pickle.dumps(dora))
    np.testing.assert_array_equal(copy.predict_proba(eegmat_small.X), dora.predict_proba(eegmat_small.X))


def test_frozen_parts_run_in_eval_mode(eegmat_small):
    est, _ = _fit(eegmat_small, "labram", finetune="linear")
    module = est.module_.train()
    assert not module.backbone.blocks.training and module.backbone.final_layer.training
    assert module.backbone.training  # holds the trainable head
    ft.set_trainable(module, "full")
    assert module.train().backbone.blocks.training


def test_early_stopping_and_class_weight(eegmat_small):
    y = eegmat_small.y.copy()
    y[np.flatnonzero(y == "rest")[:8]] = "arithmetic"  # 32 vs 16 after this
    est, rec = _fit(eegmat_small, "biot", y=y, finetune="lora", class_weight="balanced", early_stopping=True,
                    validation_fraction=0.25, n_iter_no_change=1, max_epochs=4, max_grad_norm=1.0)
    assert "valid_loss" in est.history_[-1] and len(est.history_) <= 4
    torch.testing.assert_close(rec.criterion_weight, torch.tensor([0.75, 1.5]))  # arithmetic, rest
    reg, _ = _fit(eegmat_small, "biot", cls=FoundationRegressor, finetune="partial", layer_decay=0.8,
                  early_stopping=True, max_epochs=2)
    assert np.isfinite(reg.predict(eegmat_small.X)).all()


def test_grid_search_over_finetune_modes_fits_and_keeps_the_best(eegmat_small):
    X, y, groups = eegmat_small.X, eegmat_small.y, eegmat_small.groups
    base = FoundationClassifier(**_params(eegmat_small, "biot", max_epochs=1, lr=1e-2, pooling="attentive"))
    modes, cv = ["linear", "lora"], GroupKFold(2)
    grid = GridSearchCV(base, {"finetune": modes}, cv=cv).fit(X, y, groups=groups)
    # The grid's scores are each mode's own cross-validated score (seeded, deterministic fits),
    # and it keeps the best mode.
    own = [cross_val_score(clone(base).set_params(finetune=m), X, y, groups=groups, cv=cv).mean() for m in modes]
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], own, rtol=1e-12)
    best = modes[int(np.argmax(own))]
    assert grid.best_params_ == {"finetune": best}
    # The refit model trained what that mode trains: LoRA adapters only under "lora".
    fitted = {m: clone(base).set_params(finetune=m).fit(X, y) for m in modes}
    kept = grid.best_estimator_
    trainable = {n for n, p in kept.module_.named_parameters() if p.requires_grad}
    assert any(".lora_" in n for n in trainable) == (best == "lora")
    assert kept.n_trainable_params_ == fitted[best].n_trainable_params_
    assert fitted["linear"].n_trainable_params_ < fitted["lora"].n_trainable_params_
    np.testing.assert_allclose(kept.predict_proba(X), fitted[best].predict_proba(X), rtol=1e-6, atol=1e-7)


def test_frozen_subtrees_are_the_outermost_all_frozen_modules():
    from eegfm_sklearn.backbone import _frozen_subtrees

    def block():
        return torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))

    net = torch.nn.Sequential(block(), block(), torch.nn.Sequential(block(), block()), torch.nn.Linear(2, 1))
    assert _frozen_subtrees(net) == []
    for p in [*net[0].parameters(), *net[2][0].parameters(), *net[1][2].parameters()]:
        p.requires_grad_(False)
    assert _frozen_subtrees(net) == [net[0], net[1][2], net[2][0]]
    for p in net[2][1].parameters():
        p.requires_grad_(False)
    assert _frozen_subtrees(net) == [net[0], net[1][2], net[2]]  # a parent whose children are all frozen
    net.requires_grad_(False)
    assert _frozen_subtrees(net) == [net]
