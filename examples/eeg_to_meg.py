"""Predict MEG from EEG: simulate paired data, fit, compare with ridge, share the model.
=====================================================================================

Run from the project root: ``python examples/eeg_to_meg.py`` (about a minute on a laptop CPU).
``--smoke`` runs the smallest setting (fewer windows, a smaller transformer, one epoch) in
seconds; the test suite runs it.
"""

import argparse
import sys
import tempfile

import numpy as np

from eegfm_sklearn.datasets import DataNotFoundError
from eegfm_sklearn.eeg2meg import (
    EEGToMEGRegressor,
    RidgeEEGToMEG,
    eeg2meg_metrics,
    simulate_paired_windows,
)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="smallest setting, runs in seconds")
smoke = parser.parse_args().smoke

# Two recordings of the same simulated brain (sample-subject sensors, sphere head model).
try:
    train = simulate_paired_windows(n_windows=20 if smoke else 200, n_times=100, sfreq=100.0, seed=0)
except DataNotFoundError as err:  # the sensor geometry file is not in the data folder: say so, no traceback
    sys.exit(f"error: {err}")
test = simulate_paired_windows(n_windows=5 if smoke else 50, n_times=100, sfreq=100.0, seed=1)
print("EEG windows", train.X.shape, "MEG windows", train.Y.shape)

# Keep every 4th MEG channel so the example runs fast; all 306 work the same way.
meg = np.arange(0, 306, 4)
types = train.meg_ch_types[meg]
Ytr, Yte = train.Y[:, meg], test.Y[:, meg]

models = {
    "ridge, instantaneous": RidgeEEGToMEG(n_lags=0),
    "ridge, lags +-6": RidgeEEGToMEG(n_lags=6),
    "transformer": EEGToMEGRegressor(
        d_model=16 if smoke else 32, n_encoder_layers=1, seg_len=10, max_epochs=1 if smoke else 3,
        batch_size=16, lr=1e-3, random_state=0,
    ),
}
for name, est in models.items():
    est.fit(train.X, Ytr)  # raw SI units in, raw SI units out
    summary = eeg2meg_metrics(Yte, est.predict(test.X), types)["summary"]
    print(f"{name:22s}", {k: round(v["r2"], 3) for k, v in summary.items()}, "(R^2)")

# Hugging Face style sharing: config.json + model.safetensors (share with huggingface_hub.upload_folder).
with tempfile.TemporaryDirectory() as folder:
    models["transformer"].save_pretrained(folder)
    again = EEGToMEGRegressor.from_pretrained(folder)
    assert np.array_equal(again.predict(test.X), models["transformer"].predict(test.X))
    print("reloaded from", folder, "- identical predictions")
