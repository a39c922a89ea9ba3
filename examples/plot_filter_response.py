"""
The filters applied before the model
=====================================

A checkpoint was pretrained on filtered EEG (LaBraM: band-pass 0.1-75 Hz and
a 50 Hz notch). With ``filters="card"`` (the default) the adapter applies
the same filters to your data, at your sampling rate, before resampling:

* on a continuous recording (``mne.io.Raw``), before cutting windows, with
  mne's own zero-phase FIR filters (``raw.filter``, ``raw.notch_filter``);
* on windows (numpy arrays, ``mne.Epochs``), per window, with methods that
  act within a few seconds: a linear detrend where the high-pass cannot
  act, mne's FIR low-pass, and the notch as a least-squares projection.

:func:`eegfm_sklearn.viz.plot_filter_response` measures both on the
adapter's own filter code: the continuous response from an impulse, the
per-window one from steady sinusoids filling a window.
"""

# %%
# LaBraM's filters at EEGMAT's 500 Hz, for 4 s windows
# ----------------------------------------------------
# No data needed: the card and the input's rate say what is applied.
from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.viz import plot_filter_response

fig = plot_filter_response("labram", sfreq=500.0, window_seconds=4.0)

# %%
# The per-window high-pass
# ------------------------
# A 0.1 Hz high-pass needs tens of seconds to act, so a 4 s window is
# detrended instead: offset and drift go, slow oscillations are attenuated
# more than by the continuous filter (the orange curve on the left).
# Filtering a continuous recording first (``FoundationTransformer`` on an
# ``mne.io.Raw`` with ``window_seconds=``) gives the blue curve.
#
# A fitted estimator plots the filters it applies, planned for its input:
try:
    data = load_eegmat(subjects=[0], window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
encoder = FoundationTransformer("cbramod", model_kwargs=dict(get_model_card("cbramod").tiny_kwargs),
                                sfreq=data.sfreq, ch_names=data.ch_names, random_state=0).fit(data.X[:2])
print(encoder.describe_preprocessing())
fig = plot_filter_response(encoder)
