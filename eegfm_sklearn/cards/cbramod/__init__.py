"""CBraMod (Wang et al., ICLR 2025): criss-cross transformer over (channel, 1 s patch) tokens."""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import DivideBy
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec

# The 19 TUEG electrodes (pretraining order of the authors' preprocessing).
# CBraMod takes any channels in any order; this list is informative only.
CBRAMOD_PRETRAINING_CHANNELS = (
    "FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2",
    "F7", "F8", "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ",
)


def _post_build(module):
    from torch import nn

    # proj_out is the pretraining reconstruction head: the authors replace it by Identity before
    # every downstream use (wjq-learning/CBraMod README and models/model_for_*.py, e.g.
    # model_for_stress.py:19), so features and the task head read the encoder's output.
    # braindecode 1.8.1's return_features returns proj_out(encoder(x)) instead.
    if not isinstance(module.proj_out, nn.Identity):
        module.proj_out = nn.Identity()
        d_model = module.patch_embedding.d_model
        if module._emb_dim != d_model:  # the head reads d_model-wide tokens now
            module._emb_dim = d_model
            module.reset_head(module.n_outputs)
    return module


def _flattened(out):
    # braindecode's head flattens every (channel, patch) token: (n, c, p, d) -> (n, c*p*d).
    return out["features"].flatten(1)


def _tokens(module, x, **kwargs):
    feats = module(x, return_features=True, **kwargs)["features"]  # (n, chans, patches, dim)
    return {"tokens": feats.flatten(1, 2), "cls": None}


# A tiny time-domain patch embedding: 4 conv channels x 8 = 32-wide tokens.
_TINY_CONV = ((4, 49, 25, 24, (2, 4)), (4, 3, 1, 1, (2, 4)), (4, 3, 1, 1, (2, 4)))

CHECKPOINTS = (
    Checkpoint(
        name="cbramod-base",
        source="hub",
        repo_id="braindecode/cbramod-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="TUEG pretraining (19 channels, 30 s samples of 1 s patches at 200 Hz); "
        "the backbone fits any channel count and any multiple of 200 samples.",
    ),
    Checkpoint(
        name="cbramod-base-original",
        source="original",
        filenames=("pretrained_weights.pth",),
        # braindecode's CBraMod keeps the authors' module names, so the
        # authors' plain state dict is already in braindecode's layout.
        fmt="braindecode",
        url="https://huggingface.co/weighting666/CBraMod",
        notes="The authors' file: a plain state dict of their CBraMod (same key names as braindecode's).",
    ),
)

CARD = ModelCard(
    name="cbramod",
    module_path="braindecode.models.CBraMod",
    sfreq=200.0,
    # The asymmetric conditional positional encoding (a convolution over
    # channels x patches) adapts to any channel count; no name lookup.
    channels=AnyChannels(),
    scaling=DivideBy(100.0),
    # 200-sample patches (the FFT branch is hard-wired to 101 bins); the
    # convolutional position encoding sets no maximum length.
    window=WindowSpec(multiple=200, min_samples=200, max_samples=None),
    # The default pooling flattens all (channel, patch) tokens, so its size grows with the input:
    # 19 channels x 1 patch x 200 = 3800 for the minimum window of a 10-20 cap.
    embedding_size=3800,
    build_kwargs={},
    tiny_kwargs={"n_layer": 1, "nhead": 2, "dim_feedforward": 32, "emb_dim": 32,
                 "channels_kernel_stride_padding_norm": _TINY_CONV},
    features=_flattened,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    post_build=_post_build,
    filters=FilterSpec(0.3, 75.0, (60.0,), source="CBraMod repo, preprocessing_tueg_for_pretraining.py"),
    notes=(
        "Pretrained on TUEG at 200 Hz, band-pass 0.3-75 Hz and a 60 Hz notch, µV / 100, 30 s samples "
        "of 19 channels (samples with |x| >= 100 µV dropped). Any channels, in any order: the "
        "positional encoding is a convolution over neighbouring channels, so keep a consistent "
        "channel order between fit and predict. "
        "The default 'flatten' embedding (what braindecode's head reads) is n_chans x n_patches x 200 "
        "(embedding_size: 19 channels, one patch); 'mean' gives 200. "
        "Features are the encoder's output: the reconstruction head proj_out is replaced by Identity, "
        "as the authors do before every downstream use (wjq-learning/CBraMod models/model_for_stress.py:19, "
        "README); braindecode 1.8.1 returns proj_out(encoder(x)) (relative difference 1.9). Its tensors "
        "in the authors' file and the Hub's are listed as ignored by the weights report. The authors' "
        "EEGMAT preparation (preprocessing/preprocessing_stress.py) resamples to 200 Hz without filtering."
    ),
    parity="exact vs the authors' code @ wjq-learning/CBraMod@b9e9610 (tests/parity/cbramod)",
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="encoder.layers",
    depth_kwarg="n_layer",
    stem_prefixes=("patch_embedding.",),
    # self_attn_s/_t are nn.MultiheadAttention, whose projections are read
    # as tensors inside F.multi_head_attention_forward; only the feed-forward
    # layers are called as modules.
    lora_targets=("linear1", "linear2"),
    feedforward_targets=("linear1", "linear2"),
)
