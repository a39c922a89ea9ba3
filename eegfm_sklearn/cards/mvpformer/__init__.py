"""MVPFormer (Carzaniga et al., ICLR 2026): wavelet tokens, multi-variate parallel attention (iEEG).

braindecode ships the architecture without weights.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import Scaling
from .._hooks import run_and_catch
from ..base import ModelCard, WindowSpec

SEGMENT = 2560  # 5 s at 512 Hz, both published sizes
MAX_SEGMENTS = 110  # braindecode's default time-embedding table
MAX_CHANNELS = 128  # braindecode's default channel-embedding table


def _pooled(out):
    # braindecode's head input: the last segment's tokens averaged over channels.
    return out["features"]


def _tokens(module, x, **kwargs):
    # Attention is causal in time, so only the last segment has seen the whole
    # window: its per-channel tokens (after the final RMSNorm) are what the
    # head pools. hidden: (n, segments, channels, dim).
    hidden = run_and_catch(module, module.ln_f, x, **kwargs)
    return {"tokens": hidden[:, -1], "cls": None}


CARD = ModelCard(
    name="mvpformer",
    module_path="braindecode.models.MVPFormer",
    sfreq=512.0,  # braindecode's docstring: 5-second segments at 512 Hz
    # Channels are indexed by position (learned table of MAX_CHANNELS rows,
    # channel-relative attention): any channels, in the input's order.
    channels=AnyChannels(max_channels=MAX_CHANNELS),
    # Each segment's wavelet coefficients are RMS-normalised before the
    # projection, so the input's scale does not matter: µV as they are.
    scaling=Scaling(),
    # braindecode zero-pads the last partial segment, so any length works; the
    # card's floor is 1 s of signal (a fifth of a segment).
    window=WindowSpec(multiple=1, min_samples=512, max_samples=SEGMENT * MAX_SEGMENTS),
    embedding_size=768,
    # MVPFormer-S (75 M), braindecode's docstring; MVPFormer-M is d_model 2048, 24 layers.
    build_kwargs={"segment_len": SEGMENT, "d_model": 768, "n_layers": 12, "n_heads": 12, "n_head_kv": 4,
                  "d_inner": 1728, "max_segments": MAX_SEGMENTS, "max_channels": MAX_CHANNELS,
                  "pooling": "mean"},
    tiny_kwargs={"d_model": 32, "n_layers": 1, "n_heads": 2, "n_head_kv": 1, "d_inner": 64},
    features=_pooled,
    head_prefixes=("final_layer.",),
    checkpoints=(),
    no_weights_reason=("braindecode 1.8.1 ships MVPFormer's architecture only; the authors' iEEG "
                       "checkpoints are not published in braindecode's layout"),
    filters=None,
    notes=("iEEG foundation model; architecture only (random initialisation). Pretraining filters and "
           "units are not stated in braindecode; the wavelet tokens are RMS-normalised per segment, so "
           "units do not matter. Windows shorter than a 5 s segment are zero-padded by braindecode."),
    tokens=_tokens,
    default_pooling="mean",
    poolings=("mean", "flatten", "attentive"),
    block_path="blocks",
    depth_kwarg="n_layers",
    stem_prefixes=("patch_embed.", "positional_embedding.", "channel_embedding."),
    # Every Linear of the MVPA block is called as a module.
    lora_targets=("attn.q_attn", "attn.c_attn", "attn.c_proj", "mlp.gate_proj", "mlp.up_proj",
                  "mlp.down_proj"),
    feedforward_targets=("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
)
