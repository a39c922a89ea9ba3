"""CodeBrain (Ding et al., 2025): EEGSSM backbone (SGConv + sliding-window attention) over 1 s patches."""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import DivideBy
from ..base import Checkpoint, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT


def _post_build(module):
    import torch
    from torch import nn

    # lm_head_t / lm_head_f predict pretraining codebook indices (2 x 4096 x 200)
    # and are only called with pretrain_mode=True; the task never uses them.
    module.lm_head_t = nn.Identity()
    module.lm_head_f = nn.Identity()
    # Each SGConv sets its kernel_norm buffer on its first forward pass; do it
    # now (with braindecode's own code), so a built module's state is final:
    # frozen buffers stay frozen, clones and pickles agree before any call.
    with torch.no_grad():
        for sub in module.modules():
            flag = getattr(sub, "kernel_norm_initialized", None)
            if isinstance(flag, torch.Tensor) and not bool(flag):
                sub(torch.zeros(1, sub.d_model, 1))
    return module


def _flattened(out):
    # braindecode's head flattens every (channel, patch) token before its MLP.
    return out["features"].flatten(1)


def _tokens(module, x, **kwargs):
    feats = module(x, return_features=True, **kwargs)["features"]  # (n, chans, patches, dim)
    return {"tokens": feats.flatten(1, 2), "cls": None}


CHECKPOINTS = (
    Checkpoint(
        name="codebrain-base",
        source="hub",
        repo_id="braindecode/codebrain-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="EEGSSM backbone pretrained on TUEG (19 10-20 channels, 200 Hz); the backbone fits any "
        "channel count and any multiple of 200 samples.",
    ),
)

CARD = ModelCard(
    name="codebrain",
    module_path="braindecode.models.CodeBrain",
    sfreq=200.0,
    # In braindecode 1.8.1 no backbone tensor depends on n_chans (the patch
    # width is conv_out_chans x conv length = 200; s4_lmax only sets the
    # SGConv kernel scales), and the positional encoding is a convolution
    # over channels x patches, as in CBraMod.
    channels=AnyChannels(),
    scaling=DivideBy(100.0),
    window=WindowSpec(multiple=200, min_samples=200, max_samples=None),
    # The default pooling flattens all (channel, patch) tokens, so its size grows with the input:
    # 19 channels x 1 patch x 200 = 3800 for the minimum window of a 10-20 cap.
    embedding_size=3800,
    build_kwargs={},
    tiny_kwargs={"num_res_layers": 1, "res_channels": 16, "skip_channels": 16, "out_channels": 16,
                 "conv_out_chans": 4, "conv_groups": 2, "s4_lmax": 76},
    features=_flattened,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    post_build=_post_build,
    filters=None,
    notes=(
        "200 Hz, 1 s patches. Units and filters are not stated by braindecode or the Hub card; the "
        "authors' code derives from CBraMod's TUEG pipeline (µV / 100, 0.3-75 Hz, 60 Hz notch), so "
        "µV / 100 is assumed and no filter is declared. Any channels, in any order (the positional "
        "encoding is a convolution over neighbouring channels: keep the order consistent). The "
        "pretraining codebook heads are dropped; the SGConv kernel norms (set lazily by braindecode on the "
        "first forward) are set at build. "
        "The default 'flatten' embedding (what braindecode's head reads) is n_chans x n_patches x 200 "
        "(embedding_size: 19 channels, one patch); 'mean' gives 200."
    ),
    parity="not checked: the authors' code (jingyingma01/CodeBrain) cannot be fetched here; braindecode's "
    "features stop before the codebook heads (no reconstruction head is applied, unlike CBraMod's proj_out)",
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="residual_layer.residual_blocks",
    depth_kwarg="num_res_layers",
    stem_prefixes=("patch_embedding.", "init_conv."),
    # Each block's attention is nn.MultiheadAttention (projections read as
    # tensors); the SGConv output projection is the Linear called as a module.
    lora_targets=("sgconv.output_linear",),
    feedforward_targets=(),
)
