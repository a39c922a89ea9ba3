"""REVE (El Ouahidi et al., NeurIPS 2025): 4-D (x, y, z, t) Fourier positions, any electrode layout.

Every channel is cut into 200-sample patches (1 s at 200 Hz) overlapping by
20 samples; each token gets a Fourier embedding of its electrode's 3-D
position and its patch index; a 22-layer transformer (RMSNorm, GEGLU)
encodes them all. braindecode's default head flattens every token.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import positions_chs_info
from ..base import Checkpoint, ModelCard, WindowSpec

PATCH, OVERLAP = 200, 20
EMBED_DIM = 512

GATED = ("Gated on the Hub: request access on the repository page (accept the authors' data-usage terms), "
         "then log in (`hf auth login`) or set HF_TOKEN before the first download.")


def _build_extra(slots, positions):
    from .bank import to_bank_frame

    # loc[:3] in the position bank's frame (see bank.py), the frame REVE was pretrained in
    bank = None if positions is None else to_bank_frame(positions)
    return {"chs_info": positions_chs_info("REVE", slots, bank)}


def _as_tokens(features):
    # braindecode returns (n, n_chans, n_patches, dim); tokens run channel-major, as its head flattens them.
    return features.flatten(1, 2)


def _flatten(out):
    return out["features"].flatten(1)


def _tokens(module, x, **kwargs):
    return {"tokens": _as_tokens(module(x, return_features=True, **kwargs)["features"]), "cls": None}


CHECKPOINTS = (
    Checkpoint(
        name="reve-base",
        source="hub",
        repo_id="brain-bzh/reve-base",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="REVE-Base (72 M parameters, 512-dim, 22 layers). " + GATED,
    ),
    Checkpoint(
        name="reve-large",
        source="hub",
        repo_id="brain-bzh/reve-large",
        filenames=("model.safetensors", "pytorch_model.bin"),
        card_overrides={"build_kwargs": {"embed_dim": 1250}},
        notes="REVE-Large (~400 M parameters, 1250-dim). braindecode 1.8.1 states only its width: if its depth "
              "or heads differ from the base's, loading lists the mismatched tensors; pass them in "
              "model_kwargs. " + GATED,
    ),
)

CARD = ModelCard(
    name="reve",
    module_path="eegfm_sklearn.cards.reve.module.REVEOffline",
    sfreq=200.0,
    channels=AnyChannels(),
    scaling=ZScore(clip=15.0),
    # Patches start every 180 samples; samples after the last full patch are not read.
    window=WindowSpec(multiple=1, min_samples=PATCH),
    embedding_size=9728,  # flatten: 19 channels x 1 patch x 512 at the minimum window
    build_kwargs={"embed_dim": EMBED_DIM, "depth": 22, "heads": 8, "head_dim": 64, "patch_size": PATCH,
                  "patch_overlap": OVERLAP},
    tiny_kwargs={"embed_dim": 32, "depth": 2, "heads": 2, "head_dim": 16},
    features=_flatten,
    build_extra=_build_extra,
    uses_positions=True,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    filters=None,
    notes=(
        "Pretrained at 200 Hz; each channel z-scored over the window and clipped at 15 sd (braindecode's "
        "docstring). The pretraining filters are not stated in braindecode 1.8.1 and are not applied. "
        "Positions: from the recording, montage= or the template by name (mne head frame), moved into the frame "
        "of REVE's position bank (the native frame of mne's standard_1005 template, metres), so template names "
        "get the bank's own coordinates; nothing is downloaded when the model is built (braindecode's bank is "
        "read from local files or mne's template). braindecode's head "
        "flattens every token (n_chans x n_patches x 512; embedding_size is that width at the minimum window "
        "with the 19 10-20 channels) through a "
        "LayerNorm and a linear layer."
    ),
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="transformer.layers",
    depth_kwarg="depth",
    stem_prefixes=("to_patch_embedding.", "mlp4d.", "ln."),
    # FeedForward.net = (RMSNorm, Linear, GEGLU, Linear).
    lora_targets=("to_qkv", "to_out", "net.1", "net.3"),
    feedforward_targets=("net.1", "net.3"),
)
