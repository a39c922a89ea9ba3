"""Patched Brain Transformer (Klein et al., Sci. Rep. 2025): per-channel patches, CLS read-out.

braindecode ships the architecture without weights.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import run_and_catch
from ..base import FilterSpec, ModelCard, WindowSpec

PATCH = 64  # d_input: samples per token


def _sequence(module, x, **kwargs):
    # Encoder output (n, 1 + n_tokens, dim), CLS first; braindecode's head
    # reads the CLS token. PBT.forward has no return_features.
    return run_and_catch(module, module.transformer_encoder, x, **kwargs)


def _cls(module, x, **kwargs):
    return _sequence(module, x, **kwargs)[:, 0]


def _tokens(module, x, **kwargs):
    seq = _sequence(module, x, **kwargs)
    return {"tokens": seq[:, 1:], "cls": seq[:, 0]}


CARD = ModelCard(
    name="pbt",
    module_path="braindecode.models.PBT",
    sfreq=250.0,  # the authors resample every dataset to 250 Hz; braindecode's docstring too
    # Channel-specific patches with a learned position per token of the built
    # input: any channels, in the input's order.
    channels=AnyChannels(),
    # The authors z-score their epochs ('normalization': 'zscore'); the card
    # z-scores each window per channel.
    scaling=ZScore(),
    # braindecode cuts the flattened (channels x time) signal into 64-sample
    # tokens: multiples of 64 keep each token inside one channel.
    window=WindowSpec(multiple=PATCH, min_samples=PATCH, max_samples=None),
    embedding_size=128,
    build_kwargs={"d_input": PATCH, "embed_dim": 128, "num_layers": 4, "num_heads": 4},
    tiny_kwargs={"embed_dim": 16, "num_layers": 1, "num_heads": 2},
    features_of=_cls,
    head_prefixes=("final_layer.",),
    checkpoints=(),
    no_weights_reason="braindecode 1.8.1 ships PBT's architecture only; no pretrained checkpoint is published",
    filters=FilterSpec(8.0, 45.0, source="Klein et al. 2025 code: MOABB MotorImagery(fmin=8, fmax=45), 250 Hz"),
    # braindecode's constructor notes its own default feed-forward width
    quiet_warnings=((UserWarning, r"dim_feedforward is set to 4\*embed_dim"),),
    notes=("Architecture only (random initialisation). The authors pretrained on motor-imagery data "
           "band-passed 8-45 Hz at 250 Hz, with 8 tokens (512 samples) per channel. Features: the CLS "
           "token, as braindecode's head reads it."),
    tokens=_tokens,
    default_pooling="cls",
    poolings=("cls", "mean", "flatten", "attentive"),
    block_path="transformer_encoder.encoder_block",
    depth_kwarg="num_layers",
    stem_prefixes=("cls_token", "patching_projection.", "pos_embedding."),
    lora_targets=("mhsa.attn", "mhsa.proj", "feed_forward.proj_in", "feed_forward.proj"),
    feedforward_targets=("feed_forward.proj_in", "feed_forward.proj"),
)
