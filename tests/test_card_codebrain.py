"""CodeBrain's card: channel-count-free backbone, braindecode's and the authors' layouts at full size."""

from __future__ import annotations

import re

import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import load_into_module, resolve_weights, save_weights_dir

CARD = get_model_card("codebrain")


def _raw(n_chans, n_times, seed):
    """braindecode's CodeBrain as braindecode builds it (codebook heads, lazy kernel norms)."""
    from braindecode.models import CodeBrain

    torch.manual_seed(seed)
    module = CodeBrain(n_chans=n_chans, n_times=n_times, n_outputs=2, sfreq=200).eval()
    with torch.no_grad():
        module(torch.zeros(1, n_chans, n_times))  # sets every SGConv kernel_norm
    return module


def _card(n_chans, n_times, seed):
    torch.manual_seed(seed)
    return CARD.build_module(n_chans, n_times, 2).eval()


def _features(module, x):
    with torch.no_grad():
        return module(x, return_features=True)["features"]


def _backbone_shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.startswith(CARD.head_prefixes)}


def _authors_layout(state):
    """braindecode keys -> the authors' SSSM keys (braindecode's mapping, reversed) + DataParallel prefix."""
    out = {}
    for key, value in state.items():
        if key.startswith("final_layer."):
            continue
        key = key.replace(".sgconv.", ".S41.").replace(".rms_norm.", ".sn.")
        key = re.sub(r"\.skip_weight$", ".D", key)
        key = re.sub(r"\.kernel_list\.(\d+)$", r".kernel_list.\1.kernel", key)
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        out["module." + key] = value
    return out


def test_backbone_does_not_depend_on_the_channel_count():
    assert CARD.channels.slots(("C3", "X1")) == ("C3", "X1")
    assert _backbone_shapes(_card(19, 800, 0)) == _backbone_shapes(_card(6, 400, 0))


def test_braindecode_folder_loads_every_backbone_tensor(tmp_path):
    saved = _raw(19, 800, seed=0)
    assert sum(p.numel() for p in saved.parameters()) > 15_000_000  # the released size
    resolved = resolve_weights(save_weights_dir(saved, tmp_path / "codebrain"), CARD)
    module = _card(4, 400, seed=1)
    report = load_into_module(module, resolved)
    head = CARD.head_prefixes
    assert set(report.loaded) == {k for k in module.state_dict() if not k.startswith(head)}
    ignored = {s.split(" ")[0] for s in report.ignored}
    assert {"lm_head_t.weight", "lm_head_f.weight"} <= ignored  # pretraining-only codebook heads
    x = torch.randn(2, 4, 400)
    torch.testing.assert_close(_features(module, x), _features(saved, x), rtol=0, atol=1e-5)


def test_authors_layout_converts_like_braindecodes_own_loader(tmp_path):
    saved = _raw(19, 800, seed=0)
    authors = _authors_layout(saved.state_dict())
    assert "module.residual_layer.residual_blocks.0.S41.kernel_list.0.kernel" in authors
    assert "module.init_conv.0.conv.weight_g" in authors
    path = tmp_path / "CodeBrain.pth"
    torch.save(authors, path)
    resolved = resolve_weights(path, CARD)
    assert resolved.fmt == "codebrain-original"
    module = _card(4, 400, seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == len(_backbone_shapes(module))
    # braindecode's CodeBrain.load_state_dict maps the same file to the same tensors.
    by_braindecode = _raw(4, 400, seed=2)
    missing, unexpected = by_braindecode.load_state_dict(authors, strict=False)
    assert unexpected == [] and all(k.startswith("final_layer.") for k in missing)
    for key in report.loaded:
        assert torch.equal(module.state_dict()[key], by_braindecode.state_dict()[key]), key
    x = torch.randn(2, 4, 400)
    torch.testing.assert_close(_features(module, x), _features(saved, x), rtol=0, atol=1e-5)
