"""ST-EEGFormer (Yang et al., ICLR 2026): MAE-pretrained ViT over (channel, 16-sample patch) tokens."""

from ...preprocessing.channels import ChannelVocabulary
from ...preprocessing.scaling import ClipThenZScore
from .._hooks import run_and_catch
from ..base import Checkpoint, ModelCard, WindowSpec
from .vocabulary import STEEGFORMER_CHANNELS, VocabularyRows

# The released variants (braindecode's docstring table; patch 16, mlp_ratio 4).
VARIANTS = {
    "small": {"embed_dim": 512, "depth": 8, "num_heads": 8, "n_chans_pos": 145},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12, "n_chans_pos": 145},
    "large": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "n_chans_pos": 145},
    # Further pretrained on HBN: 256 rows, the first 142 still the named vocabulary.
    "largeV2": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "n_chans_pos": 256},
}


def _sequence(module, x, **kwargs):
    # The encoder's output (n, 1 + n_tokens, dim), CLS first. braindecode's
    # "avg" head averages these patch tokens before its final LayerNorm, while
    # return_features gives them after it; the card follows the head.
    return run_and_catch(module, module.encoder, x, **kwargs)


def _mean_patch_token(module, x, **kwargs):
    return _sequence(module, x, **kwargs)[:, 1:].mean(dim=1)


def _tokens(module, x, **kwargs):
    seq = _sequence(module, x, **kwargs)
    return {"tokens": seq[:, 1:], "cls": seq[:, 0]}


def _checkpoint(variant):
    arch = VARIANTS[variant]
    return Checkpoint(
        name=f"steegformer-{variant.lower()}",
        source="hub",
        repo_id=f"braindecode/STEEGFormer-{variant}",
        filenames=("model.safetensors", "pytorch_model.bin"),
        card_overrides={
            "build_kwargs": arch,
            "embedding_size": arch["embed_dim"],
        },
        notes=(
            f"ST-EEGFormer-{variant} encoder (MAE pretraining), {arch['n_chans_pos']}-row channel embedding; "
            "channels take their row by name in the 142-name vocabulary."
            + (" Rows 145-255 were added for HBN's EGI HydroCel electrodes, which have no 10-05 names; "
               "only the named rows are used." if arch["n_chans_pos"] != 145 else "")
        ),
    )


CHECKPOINTS = tuple(_checkpoint(v) for v in VARIANTS)

CARD = ModelCard(
    name="steegformer",
    module_path="braindecode.models.STEEGFormer",
    # The authors: "designed for 128 Hz EEG data", pretraining segments of
    # 5 * 128 samples (braindecode's summary.csv lists 250 Hz, its example).
    sfreq=128.0,
    # Any subset of the 142-name vocabulary, in the user's order; each channel
    # takes its embedding row by name (checkpoints and random weights alike).
    channels=ChannelVocabulary(STEEGFORMER_CHANNELS),
    scaling=ClipThenZScore(limit_uv=500.0),
    # 16-sample patches (braindecode crops a remainder); the authors recommend
    # windows of at most 6 s (768 samples), the length they pretrained on.
    window=WindowSpec(multiple=16, min_samples=16, max_samples=768),
    embedding_size=512,
    build_kwargs={**VARIANTS["small"], "global_pool": "avg"},
    tiny_kwargs={"embed_dim": 32, "depth": 1, "num_heads": 2},
    features_of=_mean_patch_token,
    build_extra=VocabularyRows(),
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    filters=None,
    notes=(
        "Rate 128 Hz and scaling (clip at ±500 µV, then per-channel z-score of each segment) from the "
        "authors' README and pretraining data loader; pretraining filters are not stated. Each channel "
        "takes its channel-embedding row by name in the vocabulary (built in, never downloaded). "
        "Features: mean of the encoder's patch tokens (CLS excluded), what braindecode's 'avg' head reads."
    ),
    tokens=_tokens,
    default_pooling="mean",
    poolings=("mean", "cls", "flatten", "attentive"),
    block_path="encoder",
    depth_kwarg="depth",
    stem_prefixes=("cls_token", "patch_embed.", "channel_pos."),
    # braindecode's MultiHeadAttention and FeedForwardBlock call their Linears as modules.
    lora_targets=("fn.1.queries", "fn.1.keys", "fn.1.values", "fn.1.projection", "fn.1.0", "fn.1.3"),
    feedforward_targets=("fn.1.0", "fn.1.3"),
)
