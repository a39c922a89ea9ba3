"""BIOT (Yang et al., NeurIPS 2023): STFT tokens of bipolar channels."""

from ..channels import BipolarChannels
from ..scaling import PercentileNormalize
from .base import Checkpoint, ModelCard, WindowSpec

# TUH "double banana" (TCP) order the 16-channel checkpoints were trained on.
BIOT_16_PAIRS = (
    ("FP1", "F7"), ("F7", "T7"), ("T7", "P7"), ("P7", "O1"),
    ("FP2", "F8"), ("F8", "T8"), ("T8", "P8"), ("P8", "O2"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)
# The 18-channel checkpoints add two pairs to the 16.
BIOT_18_PAIRS = BIOT_16_PAIRS + (("C3", "A2"), ("C4", "A1"))


def _pooled(out):
    return out["features"]


CHECKPOINTS = ()

CARD = ModelCard(
    name="biot",
    module_path="braindecode.models.BIOT",
    # braindecode sets n_fft = int(sfreq): only 200 Hz fits the 101-wide
    # spectral projection of the released weights.
    sfreq=200.0,
    channels=BipolarChannels(BIOT_16_PAIRS),
    scaling=PercentileNormalize(95.0),
    # STFT n_fft 200, hop 100 (any length >= one FFT); 1000 positional tokens.
    window=WindowSpec(multiple=1, min_samples=200, max_samples=100_000),
    embedding_size=256,
    build_kwargs={"embed_dim": 256, "num_heads": 8, "num_layers": 4},
    tiny_kwargs={"embed_dim": 32, "num_heads": 2, "num_layers": 1},
    features=_pooled,
    head_prefixes=("final_layer.",),
    checkpoints=CHECKPOINTS,
    weight_formats=("braindecode", "biot-original"),
    notes="PREST checkpoints were trained on 10 s windows.",
)
