"""SignalJEPA (Guetschel, Moreau & Tangermann, 2024) and its three downstream variants.

One pretraining run, four braindecode classes:

* ``signal_jepa``: ``SignalJEPA``, the self-supervised encoder (convolutional
  feature encoder -> channel + time position encoding -> transformer
  encoder). braindecode gives it no head (``nn.Identity``); this card adds a
  mean over the tokens and a linear layer, so it classifies like the others.
* ``signal_jepa_contextual``: the same encoder with braindecode's separable
  head (a learned spatial filter over channels, then a linear layer on the
  flattened tokens).
* ``signal_jepa_postlocal``: the feature encoder alone, then that head.
* ``signal_jepa_prelocal``: a learned spatial filter first (a task layer),
  then the feature encoder, then a linear layer.

All four place channels by their 3-D positions (``chs_info``), so any
channels with known positions work.
"""

from dataclasses import replace

from ...preprocessing.channels import AnyChannels, ChannelVocabulary
from ...preprocessing.scaling import Scaling
from .._hooks import positions_chs_info
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec
from .convert import ENCODER_FORMAT, LOCAL_FORMAT

# The 62 channels of the pretraining recordings (Lee2019), in the row order of
# the channel table of braindecode/signal-jepa (braindecode's _PRETRAIN_CHS_INFO;
# a test checks this copy against it).
PRETRAIN_CHANNELS = tuple(
    """Fp1 Fp2 F7 F3 Fz F4 F8 FC5 FC1 FC2 FC6 T7 C3 Cz C4 T8 TP9 CP5 CP1 CP2 CP6 TP10 P7 P3 Pz
    P4 P8 PO9 O1 Oz O2 PO10 FC3 FC4 C5 C1 C2 C6 CP3 CPz CP4 P1 P2 POz FT9 FTT9h TTP7h TP7 TPP9h
    FT10 FTT10h TPP8h TP8 TPP10h F9 F10 AF7 AF3 AF4 AF8 PO3 PO4""".split()
)

# Feature encoder (braindecode's default): kernel/stride 32/8 then four 2/2 layers,
# so 128 Hz -> one 64-dim token per channel and second (receptive field 152 samples).
TOKEN_DIM = 64
MIN_SAMPLES = 152

FILTERS = FilterSpec(0.5, 40.0, source="braindecode SignalJEPA docstrings; Guetschel et al. 2024 (Lee2019 "
                                        "recordings band-passed 0.5-40 Hz, resampled to 128 Hz)")
NOTES = (
    "Pretrained at 128 Hz on EEG band-passed 0.5-40 Hz, in µV (volts x 1e6). Channels are placed by "
    "their 3-D positions (head frame, metres, as mne's info['chs'][i]['loc'][:3]): from the recording, "
    "montage=, or the template 10-05 montage by name."
)


def _chs_info(slots, positions):
    """braindecode's chs_info: one dict per slot, ``loc`` as in mne's info['chs'] (12 values, metres)."""
    return positions_chs_info("SignalJEPA", slots, positions)


def _build_extra(slots, positions):
    return {"chs_info": _chs_info(slots, positions)}


def _flatten_tokens(out):
    # braindecode's separable head reads every token (channel x time) through a spatial filter.
    return out["features"].flatten(1)


def _mean_tokens(out):
    return out["features"].mean(dim=1)


def _tokens(module, x, **kwargs):
    from .torch_parts import tokens_of

    return tokens_of(module, x, **kwargs)


def _add_mean_head(module):
    from .torch_parts import add_mean_head, encoder_only

    return encoder_only(add_mean_head(module))


def _encoder_only(module):
    from .torch_parts import encoder_only

    return encoder_only(module)


WITH_CHANNEL_TABLE = Checkpoint(
    name="signal-jepa",
    source="hub",
    repo_id="braindecode/signal-jepa",
    filenames=("model.safetensors", "pytorch_model.bin"),
    # The 62-row channel table is looked up by name: only the pretraining channels fit.
    card_overrides={"channels": ChannelVocabulary(PRETRAIN_CHANNELS),
                    "build_kwargs": {"channel_embedding": "pretrain_aligned"}},
    notes="Encoder + the pretrained 62-row channel table (channel_embedding='pretrain_aligned'): "
          "channels must be among the 62 pretraining ones (others go unused, with a warning).",
)
WITHOUT_CHANNEL_TABLE = Checkpoint(
    name="signal-jepa-without-chans",
    source="hub",
    repo_id="braindecode/signal-jepa_without-chans",
    filenames=("model.safetensors", "pytorch_model.bin"),
    # The file has no channel table: the module's own, computed from the positions, stays
    # (reported as initialised, like a head).
    card_overrides={"head_prefixes": ("final_layer.", "pos_encoder.pos_encoder_spat.")},
    notes="Encoder without the channel table (channel_embedding='scratch'): any channels; their table "
          "rows are computed from the positions.",
)

_ENCODER_KWARGS = {"transformer__num_encoder_layers": 8, "transformer__num_decoder_layers": 4,
                   "transformer__nhead": 8}
_TINY_ENCODER = {"transformer__num_encoder_layers": 2, "transformer__num_decoder_layers": 1,
                 "transformer__nhead": 2}
_ENCODER_FACTS = dict(
    sfreq=128.0,
    channels=AnyChannels(),
    scaling=Scaling(),
    window=WindowSpec(multiple=1, min_samples=MIN_SAMPLES),
    embedding_size=TOKEN_DIM,
    build_kwargs=_ENCODER_KWARGS,
    tiny_kwargs=_TINY_ENCODER,
    build_extra=_build_extra,
    uses_positions=True,
    filters=FILTERS,
    tokens=_tokens,
    block_path="transformer.encoder.layers",
    depth_kwarg="transformer__num_encoder_layers",
    stem_prefixes=("feature_encoder.", "pos_encoder."),
    # nn.TransformerEncoderLayer calls its feed-forward layers as modules (attention's
    # projections go through F.multi_head_attention_forward); post_build keeps the
    # fused inference path off so adapters there stay on the forward path, and drops
    # the JEPA predictor (decoder), which no forward calls.
    lora_targets=("linear1", "linear2"),
    feedforward_targets=("linear1", "linear2"),
    weight_formats=(ENCODER_FORMAT,),
    checkpoints=tuple(replace(c, fmt=ENCODER_FORMAT.name) for c in (WITH_CHANNEL_TABLE, WITHOUT_CHANNEL_TABLE)),
)

SIGNAL_JEPA = ModelCard(
    name="signal_jepa",
    module_path="braindecode.models.SignalJEPA",
    features=_mean_tokens,
    post_build=_add_mean_head,
    head_prefixes=("final_layer.",),
    default_pooling="mean",
    poolings=("mean", "flatten", "attentive"),
    notes=NOTES + " braindecode's SignalJEPA has no head (nn.Identity): this card adds one (mean over the "
                  "tokens, then a linear layer), so the default pooling is the mean token (64).",
    **_ENCODER_FACTS,
)

CONTEXTUAL = ModelCard(
    name="signal_jepa_contextual",
    module_path="braindecode.models.SignalJEPA_Contextual",
    features=_flatten_tokens,
    post_build=_encoder_only,
    head_prefixes=("final_layer.",),
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    notes=NOTES + " braindecode's head filters the tokens spatially (n_spat_filters) and reads them all: "
                  "the default embedding is every token flattened (n_chans x n_tokens x 64; "
                  "embedding_size is that width at the minimum window with the 19 10-20 channels).",
    **{**_ENCODER_FACTS, "embedding_size": 1216},  # flatten: width at the minimum window, 19 channels
)

_LOCAL_FACTS = dict(
    _ENCODER_FACTS,
    build_kwargs={},
    tiny_kwargs={},
    block_path=None,  # convolutions only: no transformer blocks to unfreeze one by one
    depth_kwarg=None,
    stem_prefixes=("feature_encoder.",),
    lora_targets=(),  # no nn.Linear in the backbone
    feedforward_targets=(),
    weight_formats=(LOCAL_FORMAT,),
    checkpoints=tuple(replace(c, fmt=LOCAL_FORMAT.name, card_overrides={})
                      for c in (WITH_CHANNEL_TABLE, WITHOUT_CHANNEL_TABLE)),
)

POSTLOCAL = ModelCard(
    name="signal_jepa_postlocal",
    module_path="braindecode.models.SignalJEPA_PostLocal",
    features=_flatten_tokens,
    head_prefixes=("final_layer.",),
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    notes=NOTES + " Only the pretrained feature encoder is used (its per-channel local tokens); the context "
                  "transformer and channel table of the checkpoint are dropped. The head is braindecode's "
                  "separable one (spatial filter, then linear on the flattened tokens).",
    **{**_LOCAL_FACTS, "embedding_size": 1216},  # flatten: width at the minimum window, 19 channels
)

PRELOCAL = ModelCard(
    name="signal_jepa_prelocal",
    module_path="braindecode.models.SignalJEPA_PreLocal",
    features=_flatten_tokens,
    head_prefixes=("final_layer.",),
    default_pooling="flatten",
    # Another pooling would bypass braindecode's head and freeze it, the spatial filter
    # with it (random, and in front of the encoder): only braindecode's own head.
    poolings=("flatten",),
    notes=NOTES + " A learned spatial filter (n_spat_filters, a task layer; with a release it is initialised "
    "and trained "
                  "with the head) mixes the "
                  "channels before the pretrained feature encoder, whose tokens are flattened into a "
                  "linear layer; embeddings of an untrained model therefore pass through a random filter.",
    **dict(_LOCAL_FACTS, embedding_size=256, checkpoints=tuple(
        # The spatial filter before the encoder is a task layer the releases do not hold: with
        # them it is initialised and trained like the head (a user's own saved model keeps it).
        replace(c, card_overrides={"head_prefixes": ("spatial_conv.", "final_layer.")})
        for c in _LOCAL_FACTS["checkpoints"])),
)

CARDS = (SIGNAL_JEPA, CONTEXTUAL, POSTLOCAL, PRELOCAL)
