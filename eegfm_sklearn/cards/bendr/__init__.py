"""BENDR (Kostas et al., 2021): conv encoder + transformer contextualizer."""

from ...preprocessing.channels import FixedChannels
from ...preprocessing.scaling import MinMaxWithScaleChannel
from ..base import Checkpoint, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT
from .convert import bendr_authors_form

# The 19 electrodes of the release, in order (old names T5/T6 for P7/P8);
# a 20th SCALE channel is appended by the scaling step. Names are matched exactly, as DN3 does:
# its Deep1010 rows T3 and T7 (T5 and P7) are distinct and To1020 reads only T7/T8/T5/T6
# (SPOClab-ca/dn3 transforms/channels.py:27-33, instance.py:406-412), so T3/T4 data leave the
# T7/T8 slots empty (zero with missing_channels="zero"; interpolated by default).
BENDR_CHANNELS = (
    "FP1", "FP2", "F7", "F3", "FZ", "F4", "F8", "T7", "C3", "CZ",
    "C4", "T8", "T5", "P3", "PZ", "P4", "T6", "O1", "O2",
)


# TUEG's data_max - data_min (configs/pretraining.yml:45-46), in µV (3276.7 is TUH's EDF maximum).
TUEG_SPAN = 3276.7 + 1583.9258304722666


def _start_token(out):
    # braindecode returns the start-token output context[:, :, 0].
    return out["features"]


def _tokens(module, x):
    # The contextualizer's output (n, dim, 1 + steps); position 0 is the
    # start token braindecode's head reads.
    context = module.contextualizer(module.encoder(x)).transpose(1, 2)
    return {"tokens": context[:, 1:], "cls": context[:, 0]}


CHECKPOINTS = (
    # Hub filenames are alternatives, in order; original releases are
    # converted on load and placed by hand (see docs/guide/weights.md).
    # "post_build" makes the authors' form: no final contextualizer norm,
    # as in the authors' code.
    Checkpoint(
        name="bendr",
        input_shape=(20, 1536),
        source="hub",
        repo_id="braindecode/braindecode-bendr",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="braindecode's form: final contextualizer LayerNorm applied; start-token features.",
    ),
    Checkpoint(
        name="bendr-authors",
        input_shape=(20, 1536),
        source="hub",
        repo_id="braindecode/braindecode-bendr",
        filenames=("model.safetensors", "pytorch_model.bin"),
        card_overrides={"post_build": bendr_authors_form},
        notes="Same weights in the authors' form (no final contextualizer norm).",
    ),
    Checkpoint(
        name="bendr-original",
        input_shape=(20, 1536),
        source="original",
        filenames=("encoder.pt", "contextualizer.pt"),
        fmt="bendr-original",
        card_overrides={"post_build": bendr_authors_form},
        url="https://github.com/SPOClab-ca/BENDR",
        notes="The authors' release files, in the authors' form (no final norm).",
    ),
)

CARD = ModelCard(
    name="bendr",
    module_path="braindecode.models.BENDR",
    sfreq=256.0,
    channels=FixedChannels(BENDR_CHANNELS, aliases=False),
    # DN3's MappingDeep1010 (instance.py:339-373) with the pretraining limits of TUEG
    # (SPOClab-ca/BENDR configs/pretraining.yml:45-46, µV): the SCALE row is fixed by the
    # pretraining data, not learned from the user's; the min-max runs over the Deep1010 EEG rows,
    # whose unused rows are zeros, so 0 is always in its range.
    scaling=MinMaxWithScaleChannel(span=TUEG_SPAN, zero_in_range=True),
    # The encoder downsamples x96 (any length works); keep a few encoded steps.
    window=WindowSpec(multiple=1, min_samples=384, max_samples=None),
    embedding_size=512,
    tiny_kwargs={
        "encoder_h": 32,
        "contextualizer_hidden": 64,
        "transformer_layers": 1,
        "transformer_heads": 2,
    },
    features=_start_token,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    notes=(
        "Features are the start token (braindecode); the authors' classifier "
        "read the last token. Pretraining windows were 60 s (15360 samples). Filters: not stated; "
        "the authors' pretraining config (configs/pretraining.yml, DN3) sets no filter, only "
        "resampling to 256 Hz, channel mapping and min-max scaling. filters=None. "
        "Scaling as DN3 in the authors' pretraining: one min-max over the EEG rows (0 always in range) and a "
        "SCALE row 2 * (min(ptp / 4860.6 µV, 1) - 0.5) from TUEG's fixed limits (configs/pretraining.yml:45-46), "
        "for every checkpoint (all are that pretraining); the authors' fine-tuning recipe instead declares "
        "each downstream dataset's limits (configs/downstream_datasets.yml). DN3 takes ptp over all the "
        "recording's EEG channels; here over the 19 slots. Channel names are matched exactly (T3 does not "
        "fill T7, P7 does not fill T5), as DN3's mapping; pass missing_channels='zero' for the authors' zeros."
    ),
    parity="exact vs the authors' code @ SPOClab-ca/BENDR@ac918ab + dn3@4d477fe in the authors' form "
    "(bendr-original, bendr-authors; the 'bendr' checkpoint keeps braindecode's extra final norm) "
    "(tests/parity/bendr)",
    tokens=_tokens,
    default_pooling="cls",
    poolings=("cls", "mean", "flatten", "attentive"),
    block_path="contextualizer.transformer_layers",
    depth_kwarg="transformer_layers",
    stem_prefixes=("encoder.", "contextualizer.relative_position.", "contextualizer.input_conditioning."),
    # nn.MultiheadAttention reads its projections as tensors (never calls
    # out_proj), so adapters there would be ignored: adapt the feed-forward.
    lora_targets=("linear1", "linear2"),
    feedforward_targets=("linear1", "linear2"),
)
