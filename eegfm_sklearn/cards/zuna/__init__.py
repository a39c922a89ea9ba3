"""ZUNA (Warner et al., 2026; ZUNA1.1): the encoder of a position-aware diffusion autoencoder.

Every channel is cut into 32-sample tokens (0.125 s at 256 Hz); a learned
register precedes each token; 4-D rotary positions encode each token's
bucketed (x, y, z) scalp position and coarse time. braindecode ships the
encoder with a classification head (per-channel latents averaged over time,
then a linear layer on all channels), and no weights.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import positions_chs_info
from ..base import FilterSpec, ModelCard, WindowSpec

TOKEN = 32
MAX_SEQLEN = 256  # braindecode's default rotary table: n_times // 32 <= 256
LATENT_DIM = 32


def _build_extra(slots, positions):
    return {"chs_info": positions_chs_info("ZUNA", slots, positions)}


def _flatten(out):
    # braindecode's head: a linear layer on every channel's latent, concatenated.
    return out["features"].flatten(1)


def _tokens(module, x, **kwargs):
    # One token per channel: its latent averaged over time (what braindecode returns).
    return {"tokens": module(x, return_features=True, **kwargs)["features"], "cls": None}


CARD = ModelCard(
    name="zuna",
    module_path="braindecode.models.ZUNA",
    sfreq=256.0,
    channels=AnyChannels(),
    scaling=ZScore(),
    window=WindowSpec(multiple=TOKEN, min_samples=TOKEN, max_samples=TOKEN * MAX_SEQLEN),
    embedding_size=608,  # flatten: its width at the minimum window with 19 channels
    build_kwargs={"dim": 1024, "n_layers": 16, "n_heads": 8, "head_dim": 64, "fine_time_pts": TOKEN,
                  "latent_dim": LATENT_DIM, "max_seqlen": MAX_SEQLEN},
    # 172 M parameters at full size; tiny: 2 blocks of width 32.
    tiny_kwargs={"dim": 32, "n_layers": 2, "n_heads": 2, "head_dim": 16, "multiple_of": 32},
    features=_flatten,
    build_extra=_build_extra,
    uses_positions=True,
    head_prefixes=("final_layer.",),
    checkpoints=(),
    no_weights_reason=(
        "braindecode 1.8.1 ships ZUNA's encoder without weights; the authors' release (Zyphra/ZUNA, the full "
        "diffusion autoencoder in their own layout) is not converted here."
    ),
    filters=FilterSpec(0.5, None, source="Zyphra zuna preprocessing defaults (high-pass 0.5 Hz, average "
                                         "reference; a notch at detected line-noise peaks, not reproduced)"),
    notes=(
        "Trained at 256 Hz on 5 s epochs (0.5-30 s for ZUNA1.1), 32-sample tokens: n_times must be a multiple "
        "of 32, fixed when the model is built, at most 8192 with the default rotary table. braindecode does not "
        "resample, filter or normalise; the authors' preprocessing high-passes at 0.5 Hz, average-references "
        "and z-scores each channel of each epoch (ZScore here; a further x0.1 scaling reported for their "
        "loader was not verified and is not applied). Positions: metres, mne head frame (bucketed over "
        "+-0.12 m; the authors' files store head-frame positions), from the recording, montage= or the "
        "template by name. The default embedding is every "
        "channel's latent (32 each) concatenated, what braindecode's head reads."
    ),
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="encoder.layers",
    depth_kwarg="n_layers",
    stem_prefixes=("encoder.tok_embeddings.", "encoder.registers"),
    lora_targets=("wq", "wk", "wv", "wo", "w1", "w2", "w3"),
    feedforward_targets=("w1", "w2", "w3"),
)
