"""EEGPT (Wang et al., NeurIPS 2024): per-patch transformer with summary tokens over a 62-name vocabulary."""

from ...preprocessing.channels import ChannelVocabulary
from ...preprocessing.scaling import AverageReference
from ..base import Checkpoint, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT

# braindecode's EEGPT_CHANNELS (row i of the channel embedding); a test
# checks this copy against braindecode.
EEGPT_CHANNELS = tuple(
    """FP1 FPZ FP2 AF7 AF3 AF4 AF8 F7 F5 F3 F1 FZ F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6
    FT8 T7 C5 C3 C1 CZ C2 C4 C6 T8 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 P7 P5 P3 P1 PZ P2 P4 P6
    P8 PO7 PO5 PO3 POZ PO4 PO6 PO8 O1 OZ O2""".split()
)


def _chs_info(slots, positions):
    # Embedding rows are looked up by these names when the module is built.
    return {"chs_info": [{"ch_name": name} for name in slots]}


def _keep_own_channel_ids(module):
    # chans_id (embedding rows of the input channels) follows from the
    # channels the module is built for; a checkpoint's copy describes the
    # channels it was saved with. Not persisting it lets any channel subset
    # load the same weights (the loader lists the checkpoint's as ignored).
    module._non_persistent_buffers_set.add("chans_id")
    return module


def _flattened(out):
    # braindecode's probe reads every patch's summary tokens.
    return out["features"].flatten(1)


def _tokens(module, x, **kwargs):
    # One token per patch: its embed_num summary tokens, concatenated.
    return {"tokens": module(x, return_features=True, **kwargs)["features"], "cls": None}


CHECKPOINTS = (
    Checkpoint(
        name="eegpt-large",
        source="hub",
        repo_id="braindecode/eegpt-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="EEGPT target encoder (embed 512, depth 8, 4 summary tokens), 62-channel vocabulary, "
        "4 s windows at 256 Hz.",
    ),
    Checkpoint(
        name="eegpt-large-original",
        source="original",
        filenames=("eegpt_mcae_58chs_4s_large4E.ckpt",),
        fmt="eegpt-original",
        url="https://github.com/BINE022/EEGPT (README: pretrained checkpoint link)",
        notes="The authors' Lightning pretraining file; its target_encoder.* tensors are the encoder.",
    ),
)

CARD = ModelCard(
    name="eegpt",
    module_path="braindecode.models.EEGPT",
    sfreq=256.0,
    channels=ChannelVocabulary(EEGPT_CHANNELS),
    # The authors' pretraining data: re-referenced to the channels' mean and in
    # mV, not normalised per channel (BINE022/EEGPT
    # datasets/pretrain/prepare_pretrain_dataset.py L49-51, L170, L190-221).
    scaling=AverageReference(divisor=1000.0),
    # 64-sample patches without overlap: the authors build EEGTransformer with
    # patch_stride=None, i.e. the patch size (downstream/Modules/models/
    # EEGPT_mcae.py L297-303; linear_probe_EEGPT_*.py L43-45). Each patch is
    # encoded on its own (no temporal position table), so there is no maximum.
    window=WindowSpec(multiple=64, min_samples=64, max_samples=None),
    embedding_size=2048,
    # No learned channel projection: the channels keep their own embedding
    # rows (braindecode's default would mix them into 19 fixed channels).
    # braindecode's default patch_stride=32 overlaps the patches and doubles the tokens.
    build_kwargs={"chan_proj_type": "none", "patch_stride": 64},
    tiny_kwargs={"embed_dim": 32, "depth": 1, "num_heads": 2, "embed_num": 1},
    features=_flattened,
    build_extra=_chs_info,
    post_build=_keep_own_channel_ids,
    # chan_proj is Identity here: a checkpoint's channel projection (made for
    # its own channels) is listed as ignored by the loader.
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    filters=None,
    notes=(
        "256 Hz, any subset of 62 10-20 names (their embedding rows). Input as the authors pretrained: "
        "common average reference over the window's channels, in mV, no per-channel normalisation "
        "(BINE022/EEGPT datasets/pretrain/prepare_pretrain_dataset.py L49-51: x - x.mean(-2); L170 V*1e3, "
        "L190-221 uV/1000). Patches of 64 samples without overlap (their patch_stride=None, "
        "downstream/Modules/models/EEGPT_mcae.py L297-303), not braindecode's default stride of 32. "
        "Pretraining filters are not stated; none is declared. Pretrained on 4 s windows. embedding_size "
        "is the per-patch token (4 summary tokens x 512); the default 'flatten' embedding is n_patches x "
        "2048, the authors' target_encoder output flattened (linear_probe_EEGPT_*.py L86-88)."
    ),
    parity="exact vs BINE022/EEGPT @ a0e0a8f (target_encoder, reduced size, Lightning layout)",
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="target_encoder.blocks",
    depth_kwarg="depth",
    stem_prefixes=("target_encoder.patch_embed.", "target_encoder.chan_embed.", "target_encoder.summary_token"),
    lora_targets=("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"),
    feedforward_targets=("mlp.fc1", "mlp.fc2"),
)
