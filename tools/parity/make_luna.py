"""LUNA parity fixture from the authors' code (pulp-bio/BioFoundation).

Builds their ``models/LUNA.py`` ``LUNA`` as released (the pretraining model, ``num_classes=0``:
encoder + reconstruction decoder + channel-name table; reduced: embed_dim 32, 2 queries,
depth 2, 2 heads), seeded, saves it as their ``LUNA_<size>.safetensors``, and reads the
encoder's tokens ``x_latent`` (the final norm's output, what their classifier reads,
models/LUNA.py:310-313) on EEGMAT windows at 256 Hz, each channel z-scored as their
``ChannelWiseNormalize`` (tasks/finetune_task_LUNA.py:34-43, torch ``std``: unbiased) does.
Channel locations: the package's head-frame positions of the channels (mne's template), given
to their forward as ``channel_locations``.

Their imports need timm (``Mlp``, ``DropPath``, ``trunc_normal_``), einops,
rotary-embedding-torch and ``torcheeg.datasets.constants`` (a channel-name list) on
PYTHONPATH, outside this project (docs/guide/parity.md).

    python tools/parity/make_luna.py --repo /path/to/BioFoundation
"""

import numpy as np
import torch
from _common import eegmat_windows, parse_args, write_fixture
from safetensors.torch import save_file

ARGS = parse_args(__doc__)
from models.LUNA import LUNA

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.preprocessing.montage import plan_channels, slot_positions

SIZE = {"embed_dim": 32, "num_queries": 2, "depth": 2, "num_heads": 2}

torch.manual_seed(0)
model = LUNA(patch_size=40, num_classes=0, **SIZE)
with torch.no_grad():  # every tensor away from its default, so a misplaced one shows
    for p in model.parameters():
        p.add_(0.05 * torch.randn_like(p))
model.eval()

X, names = eegmat_windows(256.0, 5.0, 2)
card = get_model_card("luna")
report = plan_channels(card.channels, names).report
positions = np.asarray(slot_positions(card, report), dtype=np.float32)

x = torch.from_numpy(X.astype(np.float64))
x = ((x - x.mean(dim=2, keepdim=True)) / (x.std(dim=2, keepdim=True) + 1e-8)).float()
caught = []
model.norm.register_forward_hook(lambda module, inputs, output: caught.append(output))
locs = torch.from_numpy(positions).expand(len(X), -1, -1)
with torch.no_grad():
    model(x, None, locs, torch.zeros(len(X), len(names), dtype=torch.long))
features = caught[0].flatten(1).numpy()

write_fixture(
    "luna",
    model="luna",
    X=X, sfreq=256.0, ch_names=names,
    features=features,
    checkpoint_name="LUNA_base.safetensors",
    save_checkpoint=lambda path: save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path),
    estimator_kwargs={"filters": None, "pooling": "flatten", "model_kwargs": SIZE},
    source={"repository": "pulp-bio/BioFoundation", "commit": ARGS.commit,
            "lines": "models/LUNA.py LUNA (Mlp norm_layer=nn.LayerNorm at :138 and :223; x_latent :310); "
                     "tasks/finetune_task_LUNA.py:34-43 (ChannelWiseNormalize)",
            "generator": "tools/parity/make_luna.py"},
)
