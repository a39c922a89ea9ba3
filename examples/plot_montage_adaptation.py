"""
What a model sees of your recording: montage, rate and scaling adaptation
=========================================================================

Each foundation model was pretrained on one channel layout, one sampling rate
and one amplitude scaling, written down in its model card. The estimators adapt
your recording to that contract and say what they did. Here one 4 s window of
EEGMAT (19 referential 10-20 channels, 500 Hz, µV) goes to two models:

* BIOT reads 16 bipolar pairs at 200 Hz, each divided by the 95th percentile of
  its absolute value. We also drop the ``O1`` electrode, as if it had been bad:
  the pairs that need it are computed from an interpolated ``O1``.
* LaBraM reads any of its 128 named channels at 200 Hz, band-passed 0.1-75 Hz
  with a 50 Hz notch, in units of 0.1 mV.

``weights=None`` builds each model with random weights: the adaptation does not
depend on them. The recordings are read from ``$EEGFM_DATA_DIR/eegmat``
(default ``../shared/data``).
"""

# %%
# Load one subject's windows
# --------------------------
import matplotlib.pyplot as plt
import numpy as np

from eegfm_sklearn import FoundationTransformer
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat

try:
    data = load_eegmat(subjects=[0], window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
print(data.X.shape, "windows x channels x samples at", data.sfreq, "Hz, in", data.units)

# %%
# BIOT, with one electrode missing
# --------------------------------
# ``fit`` plans the adaptation once; ``channel_report_`` says where each of
# the backbone's channels comes from.
keep = [i for i, name in enumerate(data.ch_names) if name != "EEG O1"]
names = [data.ch_names[i] for i in keep]
biot = FoundationTransformer("biot", sfreq=data.sfreq, ch_names=names, random_state=0)
biot.fit(data.X[:, keep])
print(biot.channel_report_)
print(biot.describe_preprocessing())

# %%
# LaBraM: filters, resampling and scaling
# ---------------------------------------
labram = FoundationTransformer("labram", sfreq=data.sfreq, ch_names=data.ch_names, random_state=0)
labram.fit(data.X)
print(labram.describe_preprocessing())

# %%
# The same window, before and after
# ---------------------------------
# ``adapter_.transform`` returns exactly what the backbone receives.
window = 0
raw = data.X[window]
to_biot = biot.adapter_.transform(data.X[window:window + 1, keep])[0]
to_labram = labram.adapter_.transform(data.X[window:window + 1])[0]


def times(n_samples, sfreq):
    return np.arange(n_samples) / sfreq


shown = ["EEG Fp1", "EEG F7", "EEG T3", "EEG T5"]
biot_slots = list(biot.channel_report_.slots)
labram_slots = list(labram.channel_report_.slots)
fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True, layout="constrained")
for offset, name in enumerate(shown):
    axes[0].plot(times(raw.shape[-1], data.sfreq), raw[data.ch_names.index(name)] - 100 * offset, lw=0.6,
                 label=name)
axes[0].set(title="Recording: 500 Hz, µV (offset 100 µV per channel)", ylabel="µV")
for offset, slot in enumerate(["FP1-F7", "F7-T7", "T7-P7", "P7-O1"]):
    axes[1].plot(times(to_biot.shape[-1], 200.0), to_biot[biot_slots.index(slot)] - 4 * offset, lw=0.6,
                 label=f"{slot} ({biot.channel_report_.as_dict()[slot]})")
axes[1].set(title="BIOT's input: bipolar pairs, 200 Hz, / 95th percentile of |x|", ylabel="a.u.")
for offset, name in enumerate(shown):
    slot = labram_slots[data.ch_names.index(name)]
    axes[2].plot(times(to_labram.shape[-1], 200.0), to_labram[labram_slots.index(slot)] - offset, lw=0.6,
                 label=slot)
axes[2].set(title="LaBraM's input: 0.1-75 Hz, 50 Hz notch, 200 Hz, in 0.1 mV", ylabel="0.1 mV",
            xlabel="time (s)")
for ax in axes:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
plt.show()

# %%
# The window becomes one embedding per model (random weights here: pass
# ``weights="biot-prest-16"`` or ``weights="labram-base"`` for the pretrained
# ones).
print("BIOT embedding:", biot.transform(data.X[:2, keep]).shape)
print("LaBraM embedding:", labram.transform(data.X[:2]).shape)
