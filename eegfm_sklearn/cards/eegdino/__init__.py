"""EEG-DINO (Wang et al., MICCAI 2025): ViT over (channel, 1 s patch) tokens, self-distilled."""

from ...preprocessing.channels import FixedChannels
from ...preprocessing.scaling import DivideBy
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec
from ..cbramod import CBRAMOD_PRETRAINING_CHANNELS

# Input channel i feeds one-hot slot i of the 19-slot channel embedding;
# names are not read. braindecode's checkpoints were pretrained on TUEG
# "following CBraMod's preprocessing", whose 19 electrodes come in this
# order (an assumption: neither braindecode nor the Hub card lists it).
EEGDINO_CHANNELS = CBRAMOD_PRETRAINING_CHANNELS

# braindecode's EEGDINO_CONFIGS["medium"] (a test checks this copy).
MEDIUM_KWARGS = {
    "n_layer": 16,
    "nhead": 8,
    "dim_feedforward": 1024,
    "channels_kernel_stride_padding_norm": (
        (64, 49, 25, 24, (8, 64)),
        (128, 3, 1, 1, (8, 128)),
        (64, 3, 1, 1, (8, 64)),
    ),
}


def _mean_of_patches(out):
    # braindecode's linear-probing output (return_encoder_output=True): mean of the patch tokens.
    return out["features"].mean(dim=1)


def _tokens(module, x, **kwargs):
    out = module(x, return_features=True, **kwargs)
    return {"tokens": out["features"], "cls": out["cls_token"]}


CHECKPOINTS = (
    Checkpoint(
        name="eegdino-small",
        source="hub",
        repo_id="braindecode/eegdino-small-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="EEG-DINO-Small encoder (4.5 M), TUEG, 19 channels at 200 Hz; the head is not pretrained.",
    ),
    Checkpoint(
        name="eegdino-medium",
        source="hub",
        repo_id="braindecode/eegdino-medium-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        card_overrides={"build_kwargs": MEDIUM_KWARGS, "embedding_size": 512},
        notes="EEG-DINO-Medium encoder (33 M, 512-wide tokens), TUEG, 19 channels at 200 Hz; the head "
        "is not pretrained.",
    ),
)

_TINY_CONV = ((4, 49, 25, 24, (2, 4)), (4, 3, 1, 1, (2, 4)), (4, 3, 1, 1, (2, 4)))

CARD = ModelCard(
    name="eegdino",
    module_path="braindecode.models.EEGDINO",
    sfreq=200.0,
    channels=FixedChannels(EEGDINO_CHANNELS),
    # braindecode: "pre-trained on EEG in microvolts scaled by 1 / 100"; the model does not rescale.
    scaling=DivideBy(100.0),
    # 200-sample patches (braindecode zero-pads other lengths with a warning;
    # the adapter cuts to a multiple instead); the temporal position encoding
    # is a convolution, so no maximum.
    window=WindowSpec(multiple=200, min_samples=200, max_samples=None),
    embedding_size=200,
    build_kwargs={},  # braindecode's defaults are EEG-DINO-Small
    tiny_kwargs={"n_layer": 1, "nhead": 2, "dim_feedforward": 32,
                 "channels_kernel_stride_padding_norm": _TINY_CONV},
    features=_mean_of_patches,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    filters=FilterSpec(0.3, 75.0, (60.0,),
                       source="braindecode Hub card (TUEG 'following CBraMod's preprocessing'); CBraMod repo"),
    notes=(
        "19 slots by index (channel i -> one-hot slot i): the adapter puts the TUEG 10-20 electrodes "
        "in CBraMod's pretraining order (FP1, FP2, F3, F4, C3, C4, P3, P4, O1, O2, F7, F8, T3, T4, T5, "
        "T6, FZ, CZ, PZ) -- an assumption from the Hub card's 'following CBraMod's preprocessing'. "
        "µV / 100, 200 Hz. A global token joins after the first block; 'cls' pools it."
    ),
    tokens=_tokens,
    default_pooling="mean",
    poolings=("mean", "cls", "flatten", "attentive"),
    block_path="encoder_layers",
    depth_kwarg="n_layer",
    stem_prefixes=("patch_embedding.", "global_tokens"),
    # attn.qkv is applied with F.linear on its weight (q/v biases added
    # separately), so an adapter there would be ignored.
    lora_targets=("attn.proj", "mlp.fc1", "mlp.fc2"),
    feedforward_targets=("mlp.fc1", "mlp.fc2"),
)
