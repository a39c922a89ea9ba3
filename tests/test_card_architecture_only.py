"""MVPFormer, MEDFormer, PBT: braindecode architectures without published weights.

What is specific to each card: its features are exactly what braindecode's
head reads (read by a hook where the class has no ``return_features``), and
its window limits are the module's own.
"""

import pytest
import torch

from eegfm_sklearn import get_model_card

from conftest import card_module

LENGTHS = {"mvpformer": 2560, "medformer": 500, "pbt": 512}


@pytest.mark.parametrize("model", list(LENGTHS))
def test_features_are_what_braindecodes_head_reads(model):
    card = get_model_card(model)
    module = card_module(model, LENGTHS[model], output="logits").eval()
    backbone = module.backbone
    x = torch.randn(3, module.build_args["n_chans"], LENGTHS[model])
    head_inputs = []
    handle = backbone.final_layer.register_forward_pre_hook(lambda mod, args: head_inputs.append(args[0]))
    with torch.no_grad():
        logits = backbone(x)
        features = card.extract_features(backbone, x)
    handle.remove()
    torch.testing.assert_close(features, head_inputs[0])
    torch.testing.assert_close(backbone.final_layer(features), logits)


def test_medformer_window_limit_is_its_time_table():
    card = get_model_card("medformer")
    module = card_module("medformer", card.window.max_samples).eval()
    # braindecode tags the time axis with a 5000-row sinusoidal table: longer windows cannot be built.
    assert module.backbone.enc_embedding.channel_embedding.pe.shape[1] == card.window.max_samples
    with torch.no_grad():
        assert module(torch.randn(1, 19, card.window.max_samples)).shape == (1, 16 * 3)  # tiny: 3 routers of 16


def test_pbt_patches_stay_inside_a_channel_on_its_window_multiple():
    card = get_model_card("pbt")
    module = card_module("pbt", 2 * card.window.multiple).eval()
    x = torch.zeros(1, 19, 2 * card.window.multiple)
    x[0, 4] = 1.0  # one channel only
    with torch.no_grad():
        patches, _ = module.backbone.patch_signal(x)
    nonzero = (patches.abs().sum(-1) > 0).flatten().nonzero().flatten().tolist()
    assert nonzero == [8, 9]  # channel 4's two tokens, each entirely its own


def test_mvpformer_tokens_are_the_last_segments_channels():
    card = get_model_card("mvpformer")
    module = card_module("mvpformer", 2 * 2560).eval()
    x = torch.randn(2, 19, 2 * 2560)
    with torch.no_grad():
        tokens = card.tokens(module.backbone, x)
        later = x.clone()
        later[..., 2560:] += 1.0  # changing the last segment changes its tokens...
        changed = card.tokens(module.backbone, later)
        earlier = x.clone()
        earlier[..., :2560] += 1.0  # ...and, attention being causal over segments, so does the first
        assert tokens["tokens"].shape == (2, 19, 32) and tokens["cls"] is None
    assert not torch.allclose(tokens["tokens"], changed["tokens"])
    assert not torch.allclose(tokens["tokens"], card.tokens(module.backbone, earlier)["tokens"])
