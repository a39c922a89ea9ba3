"""CBraMod parity fixture from the authors' code (wjq-learning/CBraMod).

Builds their ``models/cbramod.py`` ``CBraMod`` (reduced: 1 layer, 4 heads, feed-forward 32;
the patch embedding is at its published size, d_model=200 is fixed by it), seeded, saves its
state dict as their ``pretrained_weights.pth``, and runs the feature path of their downstream
models (``models/model_for_stress.py``: ``backbone.proj_out = nn.Identity()``, then the
backbone on ``(batch, channels, patches, 200)`` of µV / 100, ``datasets/stress_dataset.py``).
The whole-path fixture follows their EEGMAT preparation ``preprocessing/preprocessing_stress.py``
(20 channels with A2-A1, ``raw.resample(200)`` of the whole file, µV, 5 s windows, no filter).

    python tools/parity/make_cbramod.py --repo /path/to/CBraMod
"""

import numpy as np
import torch
from _common import (
    bfloat16_grid,
    eegmat_raw,
    parse_args,
    save_torch_deflated,
    write_fixture,
)
from torch import nn

ARGS = parse_args(__doc__)
from models.cbramod import CBraMod

NAMES = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4", "T5", "T6", "P3", "P4", "O1", "O2",
         "Fz", "Cz", "Pz", "A2-A1"]
SIZE = {"n_layer": 1, "nhead": 4, "dim_feedforward": 32}
N_WIN, START = 2, 4  # two 5 s windows, from the 5th 5-s window of the file

torch.manual_seed(0)
model = CBraMod(in_dim=200, out_dim=200, d_model=200, seq_len=30, **SIZE)
with torch.no_grad():  # every tensor away from its default, so a misplaced one shows
    for p in model.parameters():
        p.add_(0.05 * torch.randn_like(p))
bfloat16_grid(model)  # a smaller file (deflated)
state = {k: v.clone() for k, v in model.state_dict().items()}
model.proj_out = nn.Identity()  # models/model_for_stress.py, as every downstream model
model.eval()


def authors_features(windows_uv):
    x = torch.from_numpy(windows_uv / 100).float().reshape(len(windows_uv), len(NAMES), -1, 200)
    with torch.no_grad():
        return model(x).flatten(1).numpy()


# preprocessing_stress.py: pick, resample the whole file to 200 Hz, µV, 5 s windows.
raw = eegmat_raw(0).pick([f"EEG {n}" for n in NAMES])
raw500 = raw.get_data(units="uV")
eeg = raw.copy().resample(200, verbose="error").get_data(units="uV")
prepared = eeg[:, : eeg.shape[1] // 1000 * 1000].reshape(len(NAMES), -1, 1000).transpose(1, 0, 2)
X = np.ascontiguousarray(prepared[START:START + N_WIN], np.float32)
X_raw = np.ascontiguousarray(raw500[:, START * 2500:(START + N_WIN) * 2500]
                             .reshape(len(NAMES), N_WIN, 2500).transpose(1, 0, 2), np.float32)

folder = write_fixture(
    "cbramod",
    model="cbramod",
    X=X, sfreq=200.0, ch_names=NAMES,
    features=authors_features(X.astype(np.float64)),
    checkpoint_name="pretrained_weights.pth",
    save_checkpoint=lambda path: save_torch_deflated(state, path),
    estimator_kwargs={"filters": None, "model_kwargs": SIZE},
    source={"repository": "wjq-learning/CBraMod", "commit": ARGS.commit,
            "lines": "models/cbramod.py CBraMod; models/model_for_stress.py:18-19 (proj_out = Identity); "
                     "datasets/stress_dataset.py:31 (data/100); preprocessing/preprocessing_stress.py:35-46",
            "generator": "tools/parity/make_cbramod.py"},
    extra={"whole_path": {
        "input": "raw.npz", "features": "features.npy", "rtol": 0.2, "measured": 0.134,
        "estimator_kwargs": {"filters": None, "model_kwargs": SIZE},
        "preparation": "preprocessing/preprocessing_stress.py: mne raw.resample(200) of the whole file "
                       "(FFT), µV, 5 s windows, no filter; the package resamples each 500 Hz window "
                       "(polyphase). mne 1.13's Raw.resample of this file lags a zero-phase "
                       "resampling by about half an output sample (2.5 ms): 13 % of the input's "
                       "RMS (1 % once shifted back), hence the gap"}},
)
np.savez_compressed(folder / "raw.npz", X=X_raw, sfreq=np.float64(500.0), ch_names=np.asarray(NAMES))
