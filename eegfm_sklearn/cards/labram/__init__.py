"""LaBraM (Jiang et al., ICLR 2024): patch transformer over any 10-20 subset."""

import argparse

from ...preprocessing.channels import ChannelVocabulary
from ...preprocessing.scaling import DivideBy
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT

# braindecode's LABRAM_CHANNEL_ORDER (position = embedding row - 1); a test
# checks this copy against braindecode so the two cannot drift apart.
LABRAM_CHANNELS = tuple(
    """FP1 FPZ FP2 AF9 AF7 AF5 AF3 AF1 AFZ AF2 AF4 AF6 AF8 AF10 F9 F7 F5 F3 F1 FZ F2
    F4 F6 F8 F10 FT9 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 FT10 T9 T7 C5 C3 C1 CZ C2 C4
    C6 T8 T10 TP9 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 TP10 P9 P7 P5 P3 P1 PZ P2 P4 P6
    P8 P10 PO9 PO7 PO5 PO3 PO1 POZ PO2 PO4 PO6 PO8 PO10 O1 OZ O2 O9 CB1 CB2 IZ O10 T3
    T5 T4 T6 M1 M2 A1 A2 CFC1 CFC2 CFC3 CFC4 CFC5 CFC6 CFC7 CFC8 CCP1 CCP2 CCP3 CCP4
    CCP5 CCP6 CCP7 CCP8 T1 T2 FTT9h TTP7h TPP9h FTT10h TPP8h TPP10h FP1-F7 F7-T7
    T7-P7 P7-O1 FP2-F8 F8-T8 T8-P8 P8-O2""".split()
)


def _cls_token(out):
    # braindecode's Labram head (use_mean_pooling=False) reads the CLS token.
    return out["cls_token"]


def _forward_kwargs(slots, positions):
    # Embedding rows are looked up by channel name.
    return {"ch_names": list(slots)}


def _tokens(module, x, **kwargs):
    out = module(x, return_features=True, **kwargs)
    return {"tokens": out["features"], "cls": out["cls_token"]}


CHECKPOINTS = (
    # Hub filenames are alternatives, in order; original releases are
    # converted on load and placed by hand (see docs/guide/weights.md).
    Checkpoint(
        name="labram-base",
        input_shape=(19, 3000),
        source="hub",
        repo_id="braindecode/labram-pretrained",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="LaBraM-Base (5.8 M), 128-channel vocabulary, up to 3000 samples at 200 Hz.",
    ),
    Checkpoint(
        name="labram-base-original",
        input_shape=(19, 3000),
        source="original",
        filenames=("labram-base.pth",),
        fmt="labram-original",
        url="https://github.com/935963004/LaBraM/tree/main/checkpoints",
        notes="The authors' pretraining file ({'model': student.* ..., 'args': Namespace}).",
    ),
)

CARD = ModelCard(
    name="labram",
    module_path="braindecode.models.Labram",
    sfreq=200.0,
    channels=ChannelVocabulary(LABRAM_CHANNELS),
    scaling=DivideBy(100.0),
    # 200-sample patches; the pretrained temporal embedding has 16 rows
    # (n_times // 200 + 1 <= 16), so at most 15 patches = 3000 samples.
    window=WindowSpec(multiple=200, min_samples=200, max_samples=3000),
    embedding_size=200,
    # braindecode ties the width to the 200-sample patch, so "tiny" = one block.
    tiny_kwargs={"num_layers": 1, "num_heads": 2},
    features=_cls_token,
    forward_kwargs=_forward_kwargs,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    # The authors' file holds 16 temporal-embedding rows; shorter windows use the first ones.
    truncatable={"temporal_embedding": 1},
    # The authors' pickle stores its training args as an argparse.Namespace (plain data).
    safe_globals=(argparse.Namespace,),
    filters=FilterSpec(0.1, 75.0, (50.0,), source="Jiang et al. 2024, sec. 3 / LaBraM repo"),
    notes="Pretrained at 200 Hz on data band-passed 0.1-75 Hz with a 50 Hz notch, in units of 0.1 mV. "
    "The default embedding is the authors' --use_cls path (935963004/LaBraM run_class_finetuning.py:129: the "
    "CLS token after the pretrained final norm). Their default fine-tuning (use_mean_pooling=True, :127-128) "
    "instead averages the patch tokens before that norm and applies a new LayerNorm (fc_norm, "
    "modeling_finetune.py:299-300, 374-381); pooling='mean' here averages the normed tokens, which is not "
    "the same."
    " compile=True on CPU (torch 2.14, inductor, one thread, 8-16 windows of 4 s): 1.01-1.17x "
    "the eager transform throughput, after a 25-27 s compile at the first call; embeddings "
    "equal within float rounding (docs/guide/performance.md).",
    parity="exact vs the authors' code @ 935963004/LaBraM@c431221 (CLS path; tests/parity/labram)",
    tokens=_tokens,
    default_pooling="cls",
    poolings=("cls", "mean", "flatten", "attentive"),
    block_path="blocks",
    depth_kwarg="num_layers",
    stem_prefixes=("cls_token", "position_embedding", "temporal_embedding", "patch_embed."),
    # attn.qkv is applied through F.linear on its weight tensor, so an
    # adapter there would be ignored; adapt the output projection and MLP.
    lora_targets=("attn.proj", "mlp.0", "mlp.2"),
    feedforward_targets=("mlp.0", "mlp.2"),
)
