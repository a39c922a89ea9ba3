"""BIOT (Yang et al., NeurIPS 2023): STFT tokens of bipolar channels."""

from ...preprocessing.channels import BipolarChannels
from ...preprocessing.scaling import PercentileNormalize
from .._hooks import run_and_catch
from ..base import Checkpoint, ModelCard, WindowSpec
from .convert import FORMAT as ORIGINAL_FORMAT

# TUH "double banana" (TCP) order the 16-channel checkpoints were trained on.
BIOT_16_PAIRS = (
    ("FP1", "F7"), ("F7", "T7"), ("T7", "P7"), ("P7", "O1"),
    ("FP2", "F8"), ("F8", "T8"), ("T8", "P8"), ("P8", "O2"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)
# The 18-channel checkpoints hold two more channel tokens (C3-A2, C4-A1: SHHS's two channels,
# pretrained alone through an offset of 16, ycq091044/BIOT model/biot.py:112-124). The authors
# fine-tune these checkpoints on the 16 pairs (README:83-84, --in_channels 18 on TUAB's 16 TCP
# pairs): the encoder loops over the input's channels, so only the first 16 tokens are used.
BIOT_18_PAIRS = BIOT_16_PAIRS + (("C3", "A2"), ("C4", "A1"))


def _pooled(out):
    return out["features"]


def _tokens(module, x):
    # The encoder averages its transformer's output tokens inside forward;
    # a hook catches them before that mean.
    return {"tokens": run_and_catch(module, module.encoder.transformer, x), "cls": None}


CHECKPOINTS = (
    # Hub filenames are alternatives, in order; original releases are
    # converted on load and placed by hand (see docs/guide/weights.md).
    Checkpoint(
        name="biot-prest-16",
        input_shape=(16, 2000),
        source="hub",
        repo_id="braindecode/biot-pretrained-prest-16chs",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="PREST pretraining, 16 bipolar channels, 10 s windows at 200 Hz.",
    ),
    Checkpoint(
        name="biot-shhs-prest-18",
        input_shape=(18, 2000),
        source="hub",
        repo_id="braindecode/biot-pretrained-shhs-prest-18chs",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="SHHS + PREST pretraining, 18 channel tokens (16 bipolar + C3-A2, C4-A1); used on the 16 pairs, "
        "as the authors fine-tune it.",
    ),
    Checkpoint(
        name="biot-six-datasets-18",
        input_shape=(18, 2000),
        source="hub",
        repo_id="braindecode/biot-pretrained-six-datasets-18chs",
        filenames=("model.safetensors", "pytorch_model.bin"),
        notes="Six-dataset pretraining, 18 channel tokens (16 bipolar + C3-A2, C4-A1); used on the 16 pairs, "
        "as the authors fine-tune it.",
    ),
    Checkpoint(
        name="biot-prest-16-original",
        input_shape=(16, 2000),
        source="original",
        filenames=("EEG-PREST-16-channels.ckpt",),
        fmt="biot-original",
        url="https://github.com/ycq091044/BIOT/tree/main/pretrained-models",
        notes="The authors' file (a plain BIOTEncoder state dict).",
    ),
    Checkpoint(
        name="biot-shhs-prest-18-original",
        input_shape=(18, 2000),
        source="original",
        filenames=("EEG-SHHS+PREST-18-channels.ckpt",),
        fmt="biot-original",
        url="https://github.com/ycq091044/BIOT/tree/main/pretrained-models",
        notes="The authors' file (a plain BIOTEncoder state dict).",
    ),
    Checkpoint(
        name="biot-six-datasets-18-original",
        input_shape=(18, 2000),
        source="original",
        filenames=("EEG-six-datasets-18-channels.ckpt",),
        fmt="biot-original",
        url="https://github.com/ycq091044/BIOT/tree/main/pretrained-models",
        notes="The authors' file (a plain BIOTEncoder state dict).",
    ),
)

CARD = ModelCard(
    name="biot",
    module_path="braindecode.models.BIOT",
    # braindecode sets n_fft = int(sfreq): only 200 Hz fits the 101-wide
    # spectral projection of the released weights.
    sfreq=200.0,
    channels=BipolarChannels(BIOT_16_PAIRS),
    # utils.py:28-31: X / (95th percentile of |X| + 1e-8) on volts (datasets/TUAB/process.py:29
    # raw.get_data()); the adapter works in µV, where that epsilon is 1e-2.
    scaling=PercentileNormalize(95.0, eps=1e-2),
    # STFT n_fft 200, hop 100 (any length >= one FFT); 1000 positional tokens.
    window=WindowSpec(multiple=1, min_samples=200, max_samples=100_000),
    embedding_size=256,
    build_kwargs={"embed_dim": 256, "num_heads": 8, "num_layers": 4},
    tiny_kwargs={"embed_dim": 32, "num_heads": 2, "num_layers": 1},
    features=_pooled,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=(ORIGINAL_FORMAT,),
    # An 18-token table (the 18-channel checkpoints) serves the 16 pairs with its first 16 rows.
    truncatable={"encoder.channel_tokens.weight": 0},
    notes=(
        "PREST checkpoints were trained on 10 s windows. Filters: not stated. The authors' code "
        "(datasets/*/process.py, utils.py loaders) resamples to 200 Hz and applies no filter; the "
        "PREST (MGH) and SHHS pretraining data were prepared by unpublished scripts. filters=None. "
        "Scaling as the authors' loaders (ycq091044/BIOT utils.py:28-31): each channel / (95th percentile of "
        "|x| + 1e-8) with x in volts, i.e. + 1e-2 in µV. The 18-channel checkpoints are used on the 16 TCP "
        "pairs, as the authors fine-tune them (README:83-84; model/biot.py:118-124 reads the first 16 channel "
        "tokens); their C3-A2 / C4-A1 tokens were pretrained on SHHS's two channels alone and are left out "
        "(listed as cut in the weights report)."
        " compile=True on CPU (torch 2.14, inductor, one thread, 8-16 windows of 4 s): 1.09-1.18x "
        "the eager transform throughput, after a 23-29 s compile at the first call; embeddings "
        "equal within float rounding (docs/guide/performance.md)."),
    parity="exact vs the authors' code @ ycq091044/BIOT@d138e32 (tests/parity/biot)",
    tokens=_tokens,
    # torch.stft in braindecode's tokenizer: no window is passed (rectangular is intended)
    quiet_warnings=((UserWarning, r"A window was not provided"),),
    default_pooling="mean",  # braindecode's head reads the token mean; no CLS token
    poolings=("mean", "flatten", "attentive"),
    block_path="encoder.transformer.layers.layers",
    depth_kwarg="num_layers",
    stem_prefixes=("encoder.patch_embedding.", "encoder.channel_tokens.", "encoder.positional_encoding."),
    lora_targets=("fn.to_q", "fn.to_k", "fn.to_v", "fn.to_out", "fn.w1", "fn.w2"),
    feedforward_targets=("fn.w1", "fn.w2"),
)
