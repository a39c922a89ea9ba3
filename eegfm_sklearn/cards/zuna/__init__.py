"""ZUNA (Warner et al., 2026; ZUNA1.1): the encoder of a position-aware diffusion autoencoder.

Every channel is cut into 32-sample tokens (0.125 s at 256 Hz); a learned
register precedes each token; 4-D rotary positions encode each token's
bucketed (x, y, z) scalp position and coarse time. braindecode ships the
encoder with a classification head (per-channel latents averaged over time,
then a linear layer on all channels), and no weights; the authors publish the
whole autoencoder on the Hub (``Zyphra/ZUNA1.1``), whose encoder is converted.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import positions_chs_info
from ..base import Checkpoint, FilterSpec, ModelCard, WindowSpec
from .convert import FORMAT as HF_FORMAT

TOKEN = 32
MAX_SEQLEN = 256  # braindecode's default rotary table: n_times // 32 <= 256
LATENT_DIM = 32
# The authors bucket positions into 100 bins over +-0.12 m (zuna eeg_data.py L330
# num_bins_discretize_xyz_chan_pos=100, xyz_extremes L1179-1180); braindecode's default of 50
# gives other rotary angles than the weights were trained with.
POS_BINS = 100
POS_HALF_RANGE = 0.12


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
    # The authors' recipe (zuna eeg_data.py L2046-2075, eval_harness.py L34-36, config data_norm=10,
    # data_clip=1): per segment an average reference, a per-channel z-score with std + 1e-6 V (1 µV),
    # then / 10 and a clamp to +-1 (i.e. +-10 sd, times 0.1).
    scaling=ZScore(average_reference=True, eps=1.0, clip=10.0, target_std=0.1),
    window=WindowSpec(multiple=TOKEN, min_samples=TOKEN, max_samples=TOKEN * MAX_SEQLEN),
    embedding_size=608,  # flatten: its width at the minimum window with 19 channels
    build_kwargs={"dim": 1024, "n_layers": 16, "n_heads": 8, "head_dim": 64, "fine_time_pts": TOKEN,
                  "latent_dim": LATENT_DIM, "max_seqlen": MAX_SEQLEN, "pos_bins": POS_BINS,
                  "pos_half_range": POS_HALF_RANGE},
    # 172 M parameters at full size; tiny: 2 blocks of width 32.
    tiny_kwargs={"dim": 32, "n_layers": 2, "n_heads": 2, "head_dim": 16, "multiple_of": 32},
    features=_flatten,
    build_extra=_build_extra,
    uses_positions=True,
    head_prefixes=("final_layer.",),
    checkpoints=(
        Checkpoint(
            name="zuna-1.1",
            source="hub",
            repo_id="Zyphra/ZUNA1.1",
            filenames=("model-00001-of-00001.safetensors",),
            fmt="zuna-hf",
            notes="The authors' ZUNA1.1 autoencoder (encoder 16 layers of width 1024); its encoder is "
                  "loaded, the diffusion decoder dropped (listed in the weights report).",
        ),
    ),
    weight_formats=(HF_FORMAT,),
    filters=FilterSpec(0.5, None, source="Zyphra zuna preprocessing defaults (high-pass 0.5 Hz, average "
                                         "reference; a notch at detected line-noise peaks, not reproduced)"),
    notes=(
        "Trained at 256 Hz on 5 s epochs (0.5-30 s for ZUNA1.1), 32-sample tokens: n_times must be a multiple "
        "of 32, fixed when the model is built, at most 8192 with the default rotary table. Input as the authors "
        "prepare it (zuna package inference/AY2l/lingua/apps/AY2latent_bci/eeg_data.py L2046-2075, "
        "eval_harness.py L34-36, configs data_norm=10.0, data_clip=1.0): per window (their 5 s segment) an "
        "average reference over the channels, a per-channel z-score with std + 1 µV (their 1e-6 on volts), "
        "then division by 10 and a clamp to +-1 (on EEGMAT windows a plain z-score differs from it by 69 %, the "
        "x0.1 aside). Positions: metres, mne head "
        "frame, bucketed into 100 bins over +-0.12 m as the authors' training and .fif path do "
        "(eeg_data.py L330, L1179-1180; with braindecode's default of 50 bins, issue 18 measured a 1.2e-3 "
        "difference on the real weights), from "
        "the recording, montage= or the template by name. Weights: Zyphra/ZUNA1.1 "
        "model-00001-of-00001.safetensors; keys model.encoder.* are braindecode's names except that the "
        "authors' RMSNorm wrapper adds '.norm' (lingua/transformer.py L375-386); model.decoder.* (the "
        "diffusion decoder) is dropped and listed in the weights report. The authors' encoder runs on packed "
        "5 s segments with a document mask (flex attention); within a segment every token attends to every "
        "other, which is what braindecode computes per window: their configs (zuna 1.1.6 "
        "configs/config_infer*.yaml, config_bci.yaml) set encoder_sliding_window 65536 ('big enough to not be "
        "used') and no channel-id embedding (ape_dim 0, tok_idx_type {x,y,z,tc}), and order tokens time-major "
        "where braindecode orders them channel-major (the same under full attention). Their class defaults "
        "(sliding window 128, ape_dim 1) are not what they ran; a file holding ape_embedding tensors is refused, "
        "naming them. "
        "The default embedding is every "
        "channel's latent (32 each) concatenated, what braindecode's head reads."
    ),
    parity="exact vs the authors' code @ Zyphra zuna==1.1.6 (PyPI; their .fif data path, packed segments, "
           "CPU flex attention; reduced size; tests/parity/zuna)",
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="encoder.layers",
    depth_kwarg="n_layers",
    stem_prefixes=("encoder.tok_embeddings.", "encoder.registers"),
    lora_targets=("wq", "wk", "wv", "wo", "w1", "w2", "w3"),
    feedforward_targets=("w1", "w2", "w3"),
)
