"""BIOT parity fixture from the authors' code (ycq091044/BIOT).

Builds their ``model/biot.py`` ``BIOTEncoder`` with 18 channel tokens, as their
``EEG-six-datasets-18-channels.ckpt`` (reduced: depth 1; emb_size 256 and 8 heads as
published, their channel-token table is 256 wide), seeded, saves its plain state dict (their
file's layout: ``model.biot.load_state_dict(torch.load(path))``, run_binary_supervised.py:333),
and runs it as their fine-tuning does with an 18-channel checkpoint on TUAB (README:83-84:
``--in_channels 18`` on the 16 TCP pairs of datasets/TUAB/process.py; the encoder loops over
the input's channels, model/biot.py:118-124, so only the first 16 channel tokens are used).
Input: the 16 bipolar pairs of EEGMAT windows at 200 Hz in volts (process.py: ``raw.get_data()``),
each channel divided by its 95th percentile of |x| + 1e-8 (utils.py:28-31). Features: the
encoder's output (``BIOTClassifier.forward``: ``self.biot(x)``, model/biot.py:154-156).

    python tools/parity/make_biot.py --repo /path/to/BIOT
"""

import numpy as np
import torch
from _common import (
    bfloat16_grid,
    eegmat_windows,
    parse_args,
    save_torch_deflated,
    write_fixture,
)

ARGS = parse_args(__doc__)
from model.biot import BIOTEncoder

# The TCP pairs in their order (process.py), EEGMAT's old names (T3/T4/T5/T6 = T7/T8/P7/P8).
PAIRS = [("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"), ("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"),
         ("T6", "O2"), ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"), ("Fp2", "F4"), ("F4", "C4"),
         ("C4", "P4"), ("P4", "O2")]
SIZE = {"depth": 1}

torch.manual_seed(0)
encoder = BIOTEncoder(emb_size=256, heads=8, n_channels=18, n_fft=200, hop_length=100, **SIZE)
with torch.no_grad():  # every tensor away from its default, so a misplaced one shows
    for p in encoder.parameters():
        if p.is_floating_point():
            p.add_(0.05 * torch.randn_like(p))
bfloat16_grid(encoder)
encoder.eval()

X, names = eegmat_windows(200.0, 10.0, 2)
volts = X.astype(np.float64) * 1e-6
bipolar = np.stack([volts[:, names.index(a)] - volts[:, names.index(b)] for a, b in PAIRS], axis=1)
bipolar = bipolar / (np.quantile(np.abs(bipolar), q=0.95, method="linear", axis=-1, keepdims=True) + 1e-8)
with torch.no_grad():
    features = encoder(torch.FloatTensor(bipolar)).numpy()

write_fixture(
    "biot",
    model="biot",
    X=X, sfreq=200.0, ch_names=names,
    features=features,
    checkpoint_name="EEG-six-datasets-18-channels.ckpt",
    save_checkpoint=lambda path: save_torch_deflated(encoder.state_dict(), path),
    estimator_kwargs={"filters": None, "model_kwargs": {"num_layers": SIZE["depth"]}},
    source={"repository": "ycq091044/BIOT", "commit": ARGS.commit,
            "lines": "model/biot.py:71-146 (BIOTEncoder), :154-156 (features); utils.py:28-31 (95th percentile "
                     "+ 1e-8, on volts); datasets/TUAB/process.py:26-30 (volts, 200 Hz); "
                     "run_binary_supervised.py:325-334 and README:83-84 (18-channel checkpoints on 16 pairs)",
            "generator": "tools/parity/make_biot.py"},
)
