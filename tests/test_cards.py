"""Every card, the same guarantees: run over ``list_models()``, so a new card is tested without edits.

Per-model facts (converters of the authors' layouts, channel constants) are
tested in ``test_card_<model>.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eegfm_sklearn import get_model_card, list_models
from eegfm_sklearn.weights import WeightsError, formats_for, load_into_module, resolve_weights, save_weights_dir

from conftest import MODELS, PRETRAINED_MODELS, card_module, tiered

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _called_modules(module, x, kwargs):
    called = set()
    hooks = [m.register_forward_hook(lambda mod, *_: called.add(id(mod))) for m in module.modules()]
    try:
        with torch.no_grad():
            module(x, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return called


# ------------------------------------------------------------------ facts
def test_list_models_shows_status():
    status = list_models(status=True)
    assert list(status) == list_models()
    assert set(status.values()) <= {"weights available", "architecture only"}
    for name, value in status.items():
        assert (value == "weights available") == bool(get_model_card(name).checkpoints)


@pytest.mark.parametrize("model", MODELS)
def test_card_declares_a_consistent_contract(model):
    card = get_model_card(model)
    assert card.name == model == model.lower()
    assert card.sfreq > 0 and card.embedding_size > 0
    w = card.window
    assert w.min_samples >= 1 and w.min_samples % w.multiple == 0
    assert w.max_samples is None or w.max_samples >= w.min_samples
    assert card.default_pooling in card.poolings
    assert set(card.feedforward_targets) <= set(card.lora_targets)
    names = {f.name for f in formats_for(card)}
    for ckpt in card.checkpoints:
        assert ckpt.name == ckpt.name.lower() and ckpt.fmt in names
        assert (ckpt.source == "hub") == (ckpt.repo_id is not None)
        assert ckpt.filenames
    if not card.checkpoints:
        assert card.no_weights_reason, "architecture-only cards say why there are no weights"


@pytest.mark.parametrize("model", tiered(MODELS))
def test_card_hooks_point_at_real_parts_of_the_module(model):
    """Block path, stem, head and LoRA targets name modules that exist and that the forward calls."""
    card = get_model_card(model)
    module = card_module(model, card.typical_n_times(), output="logits").eval()
    backbone = module.backbone
    params = list(backbone.state_dict())  # parameters and buffers (BIOT's positional table)
    for prefix in card.head_prefixes:
        assert any(n.startswith(prefix) for n in params), f"no head parameter under {prefix!r}"
    for prefix in card.stem_prefixes:
        assert any(n.startswith(prefix) for n in params), f"no stem parameter under {prefix!r}"
    if card.block_path is not None:
        blocks = backbone.get_submodule(card.block_path)
        # A ModuleList, or a Sequential of blocks (STEEGFormer): both index and count in depth order.
        assert isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks) >= 1
    x = torch.randn(2, module.build_args["n_chans"], module.build_args["n_times"])
    called = _called_modules(backbone, x, module._forward_kwargs())
    for target in card.lora_targets:
        layers = [m for n, m in backbone.named_modules() if n.endswith(target)]
        assert layers, f"LoRA target {target!r} matches no module"
        assert all(isinstance(m, nn.Linear) for m in layers), f"{target!r} is not nn.Linear"
        # peft replaces the module; a layer read through F.linear would silently ignore its adapter.
        assert all(id(m) in called for m in layers), f"{target!r} is not called as a module"


@pytest.mark.parametrize("model", tiered(MODELS))
def test_features_have_the_declared_size_at_full_width(model):
    """``embedding_size`` is what the full-size backbone's default pooling returns."""
    card = get_model_card(model)
    n_times = card.window.min_samples
    card_tiny = card_module(model, n_times)
    build = dict(card_tiny.build_args, model_kwargs=None)
    from eegfm_sklearn.backbone import CardModule

    full = CardModule(card, build, card_tiny.slot_names, output="features",
                      slot_positions=card_tiny.slot_positions).eval()
    with torch.no_grad():
        out = full(torch.randn(1, build["n_chans"], n_times))
    assert out.shape == (1, card.embedding_size)


# -------------------------------------------------------- checkpoints
def _fake_hub_cache(cache, ckpt, folder):
    """Place ``folder``'s files as the Hugging Face cache holds the checkpoint's downloaded repo
    (the weights under the checkpoint's own file name)."""
    repo = cache / f"models--{ckpt.repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for path in folder.iterdir():
        name = ckpt.filenames[0] if path.name == "model.safetensors" else path.name
        (snap / name).write_bytes(path.read_bytes())


def _hub_checkpoints():
    for model in PRETRAINED_MODELS:
        # Hub files in braindecode's layout (a release in the authors' own layout on the Hub, e.g.
        # ZUNA's, is tested with that layout in its card's tests).
        hub = [c for c in get_model_card(model).checkpoints if c.source == "hub" and c.fmt == "braindecode"]
        if hub:  # full size is slow: the card's first published checkpoint
            yield pytest.param(model, hub[0].name, id=f"{model}-{hub[0].name}", marks=pytest.mark.slow)


def _release_module(card, ckpt, seed):
    eff = card.for_checkpoint(ckpt)
    torch.manual_seed(seed)
    module, plan = eff.build_standard_module(2, input_shape=ckpt.input_shape)
    module.eval()
    n_chans, n_times, slots, positions = plan.n_chans, plan.n_times, plan.slots, plan.positions
    return module, eff, (n_chans, n_times, slots, positions)


@pytest.mark.parametrize("model, name", list(_hub_checkpoints()))
def test_full_size_release_loads_by_name_offline_and_partial_or_foreign_is_refused(
        model, name, tmp_path, monkeypatch):
    card = get_model_card(model)
    ckpt = card.get_checkpoint(name)
    ref, eff, (n_chans, n_times, slots, positions) = _release_module(card, ckpt, seed=0)
    save_weights_dir(ref, tmp_path / "release", {"n_chans": n_chans, "n_times": n_times})
    cache = tmp_path / "cache"
    _fake_hub_cache(cache, ckpt, tmp_path / "release")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    resolved = resolve_weights(name, card, cache_dir=cache)
    torch.manual_seed(1)
    module = resolved.card.build_module(n_chans, n_times, 2, slots=slots, positions=positions).eval()
    report = load_into_module(module, resolved)
    head = tuple(resolved.card.head_prefixes)
    backbone = [k for k in module.state_dict() if not k.startswith(head)]
    assert set(backbone) <= set(report.loaded)
    for key in backbone:
        assert torch.equal(module.state_dict()[key], ref.state_dict()[key]), key

    # A partial checkpoint: refused, naming the missing key.
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "release" / "model.safetensors"))
    dropped = backbone[len(backbone) // 2]
    partial = tmp_path / "partial"
    partial.mkdir()
    save_file({k: v for k, v in state.items() if k != dropped}, str(partial / "model.safetensors"))
    with pytest.raises(WeightsError, match=f"missing from the checkpoint.*{dropped.split('.')[0]}"):
        load_into_module(resolved.card.build_module(n_chans, n_times, 2, slots=slots, positions=positions),
                         resolve_weights(partial, card))


@pytest.mark.parametrize("model", tiered(MODELS))
def test_another_models_checkpoint_is_refused_naming_keys(model, tmp_path):
    other = next(m for m in MODELS if m != model and get_model_card(m).module_path != get_model_card(model).module_path)
    foreign = card_module(other, get_model_card(other).typical_n_times())
    save_weights_dir(foreign.backbone, tmp_path / "foreign", {"model": other})
    mine = card_module(model, get_model_card(model).typical_n_times())
    with pytest.raises(WeightsError, match="does not fit the model's backbone"):
        load_into_module(mine.backbone, resolve_weights(tmp_path / "foreign", get_model_card(model)))


@pytest.mark.parametrize("model", [m for m in MODELS if not get_model_card(m).checkpoints])
def test_architecture_only_cards_refuse_weight_names_clearly(model):
    card = get_model_card(model)
    with pytest.raises(WeightsError, match=f"No pretrained checkpoint of '{model}' is published"):
        resolve_weights(f"{model}-base", card)


def test_nothing_needs_the_network_to_build(monkeypatch):
    """Building every card's module never reaches for the Hub (it is unreachable here anyway)."""
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while building: {args} {kwargs}")

    for fn in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, fn, refuse)
        monkeypatch.setattr(f"huggingface_hub.file_download.{fn}" if fn == "hf_hub_download"
                            else f"huggingface_hub._snapshot_download.{fn}", refuse, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for model in MODELS:
        card = get_model_card(model)
        module = card_module(model, card.typical_n_times())
        assert sum(p.numel() for p in module.parameters()) > 0


@pytest.mark.slow
def test_docs_model_table_is_generated_from_the_cards():
    from pathlib import Path

    from eegfm_sklearn.cards._table import model_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    assert model_table() in text, "docs/models.md is stale: python -m eegfm_sklearn.cards._table > docs/models.md"


def test_model_table_marks_a_stale_throughput(tmp_path, monkeypatch):
    import json

    from eegfm_sklearn.cards import _table

    speed = {"labram": {"ours_per_s": 5.0, "ratio": 0.9},
             "biot": {"ours_per_s": 7.0, "ratio": 0.8, "stale": "measured before the card changed"}}
    (tmp_path / "throughput.json").write_text(json.dumps(speed))
    monkeypatch.setattr(_table, "THROUGHPUT", tmp_path / "throughput.json")
    rows = {row.split(" | ")[0].strip("| `"): row for row in _table.model_table(with_params=False).splitlines()}
    assert rows["biot"].endswith("| 7 (0.80x) (stale: see the performance guide) |")
    assert rows["labram"].endswith("| 5 (0.90x) |")


# ------------------------------------------------------- other caps
def _cap(kind):
    """(data in V (n_windows, n_chans, n_times), sfreq, names, positions) of a real recording."""
    import mne

    from eegfm_sklearn.validation import mne_recording_info

    from conftest import require_data

    if kind == "eeglab-32":  # numbered channels, no positions
        raw = mne.io.read_raw_eeglab(require_data("eeglab", "test_raw.set"), verbose=False)
    elif kind == "brainvision-32":
        raw = mne.io.read_raw_brainvision(require_data("formats", "test.vhdr"), verbose=False)
    else:
        raw = mne.io.read_raw_edf(require_data("eegmmidb", "S001R01.edf"), verbose=False)
        mne.datasets.eegbci.standardize(raw)
        if kind == "headset-4":  # a Muse-like layout: TP9, AF7, AF8, TP10
            raw.pick(["TP7", "AF7", "AF8", "TP8"]).rename_channels({"TP7": "TP9", "TP8": "TP10"})
    picks, info = mne_recording_info(raw)
    n = min(int(6 * info.sfreq), raw.n_times // 3)  # three windows of up to 6 s
    data = raw.get_data(picks=picks, stop=3 * n).reshape(len(picks), 3, n).transpose(1, 0, 2)
    return data, info


CAPS = ("eeglab-32", "brainvision-32", "eegmmidb-64", "headset-4")


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("model", tiered(MODELS))
def test_montages_of_other_caps_adapt_with_a_report_or_a_clear_error(model, cap):
    from eegfm_sklearn.preprocessing.adapter import InputAdapter
    from eegfm_sklearn.preprocessing.channels import AnyChannels

    card = get_model_card(model)
    X, info = _cap(cap)
    adapter = InputAdapter(card, info.sfreq, info.ch_names, "V", positions=info.positions)
    names_only = isinstance(card.channels, AnyChannels) and not card.uses_positions
    if cap == "eeglab-32" and not names_only:
        # Channels called 'EEG 000'... with no positions: nothing to map, and the error says how to fix it.
        with pytest.raises(ValueError, match="(maps onto this model's channels|positions)"):
            adapter.fit(X)
        return
    adapter.fit(X)
    report = adapter.report_
    assert len(report.slots) == len(report.status) == len(report.sources) >= 1
    for status, source in zip(report.status, report.sources):
        assert status in {"matched", "derived", "interpolated", "zero"}
        if status == "matched":
            assert source in info.ch_names
    if cap == "headset-4" and card.channels.fills_missing():
        assert report.count("interpolated") >= len(report.slots) - 4  # most slots estimated, and said so
        assert any("interpolated" in step for step in adapter.steps_)
    Xt = adapter.transform(X)
    assert Xt.shape[:2] == (len(X), len(report.slots) + card.scaling.n_extra_channels)
    assert np.all(np.isfinite(Xt))


# ------------------------------------------------------------- real EEG
@pytest.mark.parametrize("model", tiered(MODELS, fast=("labram",)))
def test_every_estimator_fits_and_predicts_on_real_eegmat(model, eegmat_small):
    """Transformer, classifier and regressor, tiny configs, on EEGMAT (19 ch with old names, 500 Hz, 4 s, µV)."""
    from sklearn.base import clone

    from eegfm_sklearn import FoundationClassifier, FoundationRegressor, FoundationTransformer

    from conftest import tiny

    data = eegmat_small
    common = tiny(model, sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, batch_size=16)
    emb = FoundationTransformer(**common).fit(data.X).transform(data.X)
    assert emb.shape[0] == len(data.X) and np.all(np.isfinite(emb)) and emb.std(axis=0).max() > 0
    clf = FoundationClassifier(**common, max_epochs=1, lr=1e-3).fit(data.X, data.y)
    proba = clf.predict_proba(data.X)
    assert proba.shape == (len(data.X), 2) and list(clf.classes_) == sorted(set(data.y))
    np.testing.assert_array_equal(clf.predict(data.X), clf.classes_[proba.argmax(1)])
    assert np.ptp(proba[:, 1]) > 0  # the windows' probabilities differ: the head reads the input
    reg = FoundationRegressor(**common, max_epochs=1, lr=1e-3).fit(data.X, data.groups.astype(float))
    pred = reg.predict(data.X)
    assert pred.shape == (len(data.X),) and np.all(np.isfinite(pred))
    assert not hasattr(clone(clf), "module_")


@pytest.mark.parametrize("name", list_models())
def test_printing_a_card_gives_a_readable_summary(name):
    card = get_model_card(name)
    text = str(card)
    assert text.startswith(f"ModelCard {card.name!r}") and len(text) < 1200, text
    assert "<function" not in text and "lambda" not in text
    assert f"{card.sfreq:g} Hz" in text
    if card.default_pooling == "flatten":  # e.g. CBraMod: 3800 is not what 8 channels give
        assert "grows with the channel count and the window length" in text
    else:
        assert f"{card.embedding_size} (fixed)" in text
