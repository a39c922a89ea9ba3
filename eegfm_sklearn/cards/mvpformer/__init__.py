"""MVPFormer (Carzaniga et al., ICLR 2026): wavelet tokens, multi-variate parallel attention (iEEG).

braindecode ships the architecture without weights; the authors publish ``genie-{s,m}-{base,swec}.pt``
by manual download (IBM/multi-variate-parallel-transformer README, "Checkpoints"), converted here.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import Scaling
from .._hooks import run_and_catch
from ..base import Checkpoint, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT

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


_URL = "https://ibm.box.com/v/mvpformer-checkpoints (IBM/multi-variate-parallel-transformer README, Checkpoints)"
_M = {"d_model": 2048, "n_layers": 24, "n_heads": 16, "n_head_kv": 8, "d_inner": 5632}

CHECKPOINTS = (
    Checkpoint(
        name="mvpformer-s-base",
        source="original",
        filenames=("genie-s-base.pt",),
        fmt="mvpformer-original",
        url=_URL,
        notes="MVPFormer-S after generative pretraining (configs/mvpformer_s_generative.yaml: d_model 768, "
              "12 layers, 12 heads, 4 kv heads); a manual download, never fetched automatically.",
    ),
    Checkpoint(
        name="mvpformer-m-base",
        source="original",
        filenames=("genie-m-base.pt",),
        fmt="mvpformer-original",
        url=_URL,
        card_overrides={"build_kwargs": _M, "embedding_size": 2048},
        notes="MVPFormer-M after generative pretraining (configs/mvpformer_generative.yaml: d_model 2048, "
              "24 layers, 16 heads, 8 kv heads); a manual download, never fetched automatically.",
    ),
)

CARD = ModelCard(
    name="mvpformer",
    module_path="braindecode.models.MVPFormer",
    sfreq=512.0,  # braindecode's docstring: 5-second segments at 512 Hz
    # Channels are indexed by position (learned table of MAX_CHANNELS rows,
    # channel-relative attention): any channels, in the input's order.
    channels=AnyChannels(max_channels=MAX_CHANNELS),
    # µV as they are. Each segment's wavelet coefficients go through an RMSNorm
    # whose fixed eps (1e-5, models/fftencoder.py WaveEncoder.ln) is not
    # scale-free: volts and µV give different features, so the unit matters.
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
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    filters=None,
    notes=("iEEG foundation model. Input in µV: the wavelet tokens are RMS-normalised per segment with a "
           "fixed eps of 1e-5 (models/fftencoder.py WaveEncoder, RMSNorm(eps=1e-5)), so volts and µV give "
           "different features. Weights: the authors' genie-{s,m}-{base,swec}.pt, a manual download (no "
           "Hub copy): put the file in <cache>/eegfm_sklearn/<name>/ or pass its path. The converter merges "
           "the unmerged LoRA factors (lora_A/lora_B on q_attn and on the value rows of c_attn, scale "
           "alpha/r = 16/8; layers/mvpa.py L43-62) into the weights, renames encoder.* to patch_embed.* and "
           "mvpformer.h.i to blocks.i, and drops ln_2 (unused by their block's forward), the time_bias / "
           "masked_bias buffers, seizure_embeddings and the task head, each listed in the weights report. "
           "The genie-*-swec.pt files hold the SWEC fine-tuning their classification loader applies over the "
           "base (models/mvpformer.py L845-895): if yours holds only those tensors, merge it over the base "
           "state dict first. Their generative loader resets encoder.ln.weight to ones (L482); the "
           "classification loader keeps the file's value, as here. Features: the last segment's tokens "
           "averaged over channels (their ClassificationHMVPFormer.training_step: out[:, -1].mean(dim=1)). "
           "Pretraining filters are not stated. Windows shorter than a 5 s segment are zero-padded by "
           "braindecode."
           " compile=True on CPU (torch 2.14, inductor, one thread, 8-16 windows of 4 s): 1.11-1.16x "
           "the eager transform throughput by CPU time (wall 1.16x, and 0.77x in one loaded run), "
           "after a 82-120 s compile at the first call; embeddings equal within float rounding "
           "(docs/guide/performance.md)."),
    parity="exact vs IBM/multi-variate-parallel-transformer @ 9f5357b (reduced size, LoRA merged)",
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
