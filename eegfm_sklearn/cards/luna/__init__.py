"""LUNA (Döner, Ingolfsson, Benini & Li, NeurIPS 2025): topology-agnostic, channels unified by learned queries.

Patches of 40 samples per channel are embedded (convolutions + FFT), each
channel's 3-D position is added, and cross-attention with a few learned
queries turns any number of channels into a fixed-size latent per patch;
a rotary transformer then runs over the patches.

Rate: the authors resampled everything to 256 Hz (BioFoundation's LUNA
documentation: 256 Hz, 5 s segments, 40-sample patches; neuralbench's
configuration agrees). braindecode's summary table lists 128 Hz, which is
only its usage example (``LUNA(n_chans=22, n_times=512, sfreq=128)``); the
architecture has no rate of its own, so the pretraining rate wins: 256 Hz.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import positions_chs_info
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec
from .convert import FORMAT as PULPBIO_FORMAT

PATCH = 40
SIZES = {  # embed_dim, num_queries, depth (braindecode's docstring and the authors' table)
    "base": (64, 4, 8),
    "large": (96, 6, 10),
    "huge": (128, 8, 24),
}


def _size_kwargs(size):
    embed_dim, num_queries, depth = SIZES[size]
    return {"embed_dim": embed_dim, "num_queries": num_queries, "depth": depth}


def _embedding_size(size):
    embed_dim, num_queries, _ = SIZES[size]
    return embed_dim * num_queries


def _build_extra(slots, positions):
    return {"chs_info": positions_chs_info("LUNA", slots, positions)}


def _mean_tokens(out):
    return out["features"].mean(dim=1)


def _tokens(module, x, **kwargs):
    return {"tokens": module(x, return_features=True, **kwargs)["features"], "cls": None}


def _checkpoint(size):
    return Checkpoint(
        name=f"luna-{size}",
        source="hub",
        repo_id="PulpBio/LUNA",
        filenames=(f"LUNA_{size}.safetensors",),
        fmt=PULPBIO_FORMAT.name,
        card_overrides={"build_kwargs": _size_kwargs(size), "embedding_size": _embedding_size(size)},
        notes=f"LUNA-{size.capitalize()} (embed_dim, num_queries, depth = {SIZES[size]}), pretrained on TUEG + "
              "Siena (masked-patch reconstruction; the reconstruction decoder is dropped on load).",
    )


CARD = ModelCard(
    name="luna",
    module_path="eegfm_sklearn.cards.luna.module.LUNAFeatures",
    sfreq=256.0,
    channels=AnyChannels(),
    # tasks/finetune_task_LUNA.py:34-43 (ChannelWiseNormalize): torch std, unbiased, + 1e-8
    scaling=ZScore(ddof=1),
    window=WindowSpec(multiple=PATCH, min_samples=PATCH),
    embedding_size=_embedding_size("base"),
    build_kwargs=_size_kwargs("base"),
    tiny_kwargs={"embed_dim": 32, "num_queries": 2, "depth": 2, "num_heads": 2},
    features=_mean_tokens,
    build_extra=_build_extra,
    uses_positions=True,
    head_prefixes=("final_layer.",),
    checkpoints=tuple(_checkpoint(size) for size in SIZES),
    weight_formats=(PULPBIO_FORMAT,),
    filters=FilterSpec(0.1, 75.0, (50.0, 60.0), source="BioFoundation docs/model/LUNA.md (band-pass 0.1-75 Hz, "
                                                       "notch at the line frequency: 60 Hz TUEG, 50 Hz Siena)"),
    # torch's TransformerEncoder: a speed path that does not apply to LUNA's layers
    quiet_warnings=((UserWarning, r"enable_nested_tensor is True, but self.use_nested_tensor is False"),),
    notes=(
        "Pretrained at 256 Hz (not braindecode's 128 Hz usage example) on 5 s segments, band-passed 0.1-75 Hz "
        "with a line-frequency notch, each channel z-scored within the window. Positions: mne head frame from "
        "the recording/montage/template (braindecode's chs_info); LUNA min-max normalises each axis over the "
        "window's channels, so units do not matter. The authors' pretraining coordinates come from their own "
        "spherical electrode table (BioFoundation make_datasets/electrode_positions.py, another axis order), "
        "which braindecode does not reproduce. braindecode has no return_features: the embedding is the "
        "encoder's final-norm output (one num_queries x embed_dim token per patch), averaged over patches; "
        "braindecode's own head (pooling=None when fine-tuning) is a learned-query attention over those tokens. "
        "The module is the authors' network: braindecode 1.8.1's LUNA lacks the LayerNorm of two MLPs "
        "(pulp-bio/BioFoundation models/LUNA.py:138 cross-attention feed-forward, :223 channel-location "
        "embedder: timm Mlp(norm_layer=nn.LayerNorm)); the card adds both, also for weights=None. A file "
        "saved from braindecode's LUNA (no such norms) is refused with that explanation. The z-score uses "
        "torch's unbiased std + 1e-8, as the authors' ChannelWiseNormalize (tasks/finetune_task_LUNA.py:34-43)."
    ),
    parity="exact vs the authors' code @ pulp-bio/BioFoundation@1923999 (tests/parity/luna)",
    tokens=_tokens,
    default_pooling="mean",
    poolings=("mean", "flatten", "attentive"),
    block_path="blocks",
    depth_kwarg="depth",
    stem_prefixes=("patch_embed.", "freq_embed.", "channel_location_embedder.", "mask_token", "cross_attn."),
    lora_targets=("qkv_proj", "attn.proj", "mlp.fc1", "mlp.fc2"),
    feedforward_targets=("mlp.fc1", "mlp.fc2"),
)
