"""Medformer (Wang et al., NeurIPS 2024): multi-granularity patching transformer for medical time series.

braindecode ships the architecture without weights.
"""

from ...preprocessing.channels import AnyChannels
from ...preprocessing.scaling import ZScore
from .._hooks import run_and_catch
from ..base import ModelCard, WindowSpec

PATCH_LENS = (2, 8, 16)  # braindecode's default granularities
EMBED_DIM = 128
# braindecode tags each input with a sinusoidal table of 5000 rows along time.
MAX_SAMPLES = 5000


def _routers(module, x, **kwargs):
    # One router token per granularity after the encoder's final norm and the
    # head's activation: (n, n_granularities, dim). braindecode's head
    # flattens them (dropout, then final_layer).
    return run_and_catch(module, module.activation_layer, x, **kwargs)


def _flat_routers(module, x, **kwargs):
    return _routers(module, x, **kwargs).flatten(1)


def _tokens(module, x, **kwargs):
    return {"tokens": _routers(module, x, **kwargs), "cls": None}


CARD = ModelCard(
    name="medformer",
    module_path="braindecode.models.MEDFormer",
    sfreq=250.0,  # braindecode's summary.csv; no pretrained checkpoint fixes a rate
    # Built for the input's channel count (patches run along braindecode's
    # channel axis), so any channels, in the input's order.
    channels=AnyChannels(),
    # The authors standardise each sample per channel (their data loaders'
    # normalize_batch_ts); the card z-scores each window per channel.
    scaling=ZScore(),
    # Any length up to the table braindecode builds; the 1 s floor is the card's
    # (the patch kernels span the whole window, and their size grows with it).
    window=WindowSpec(multiple=1, min_samples=250, max_samples=MAX_SAMPLES),
    embedding_size=EMBED_DIM * len(PATCH_LENS),
    build_kwargs={"patch_len_list": PATCH_LENS, "embed_dim": EMBED_DIM, "num_heads": 8, "num_layers": 6,
                  "dim_feedforward": 256, "output_attention": False},
    tiny_kwargs={"embed_dim": 16, "num_heads": 2, "num_layers": 1, "dim_feedforward": 32},
    # MEDFormer.forward has no return_features: read the head's input.
    features_of=_flat_routers,
    head_prefixes=("final_layer.",),
    checkpoints=(),
    no_weights_reason="braindecode 1.8.1 ships MEDFormer's architecture only; no pretrained checkpoint is published",
    filters=None,
    notes=("Architecture only (random initialisation). braindecode 1.8.1 patches along the channel axis "
           "with kernels spanning the whole window, so the module is tied to the window length it was "
           "built for (at most 5000 samples). Features: the granularity routers, flattened, as the head "
           "reads them. Filters are not stated (dataset-specific in the paper)."
           " compile=True on CPU (torch 2.14, inductor, one thread, 8-16 windows of 4 s): 1.27-1.40x "
           "the eager transform throughput, after a 52-77 s compile at the first call; embeddings "
           "equal within float rounding (docs/guide/performance.md)."),
    tokens=_tokens,
    default_pooling="flatten",
    poolings=("flatten", "mean", "attentive"),
    block_path="encoder.attn_layers",
    depth_kwarg="num_layers",
    stem_prefixes=("enc_embedding.",),
    # The feed-forward layers are Conv1d; adapt the attention projections.
    lora_targets=("query_projection", "key_projection", "value_projection", "out_projection"),
    feedforward_targets=(),
)
