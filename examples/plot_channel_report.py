"""
How the model's channels were obtained
======================================

Each foundation model reads a fixed set of channels (its *slots*). The
adapter fills every slot from the recording: **matched** (the electrode is
there), **derived** (a combination of electrodes, e.g. BIOT's bipolar
``FP1-F7`` = Fp1 - F7), **interpolated** (spherical splines from the
neighbours, mne) or **zero** (``missing_channels="zero"``). The estimator's
``channel_report_`` says which; :func:`eegfm_sklearn.viz.plot_channel_report`
draws it on the head with :func:`mne.viz.plot_sensors`.

EEGMAT has the 19 electrodes of the 10-20 system with their old names
(``T3``, ``T5``...), which the adapter understands.
"""

# %%
# EEGMAT, one subject, a few windows
# ----------------------------------
# Fitting a FoundationTransformer plans the adapter (and builds the model:
# the card's tiny architecture with random weights keeps this quick).
from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.viz import plot_channel_report

try:
    data = load_eegmat(subjects=[0], window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
X = data.X[:4]
print(data.ch_names)


def fitted(model, ch_names, X, **params):
    est = FoundationTransformer(model, model_kwargs=dict(get_model_card(model).tiny_kwargs), sfreq=data.sfreq,
                                ch_names=ch_names, random_state=0, **params)
    return est.fit(X)


# %%
# BIOT: bipolar pairs, derived
# ----------------------------
# Each of BIOT's 16 bipolar channels is drawn at the midpoint of its two
# electrodes.
biot = fitted("biot", data.ch_names, X)
print(biot.channel_report_)
fig = plot_channel_report(biot)

# %%
# BENDR without the back of the head: interpolated
# ------------------------------------------------
# Keep the 12 frontal and central electrodes: BENDR's parietal and occipital
# slots are interpolated from them.
front = [i for i, name in enumerate(data.ch_names) if not name.split()[-1].startswith(("P", "O", "T5", "T6"))]
bendr = fitted("bendr", [data.ch_names[i] for i in front], X[:, front])
fig = plot_channel_report(bendr)

# %%
# The same with ``missing_channels="zero"``
# -----------------------------------------
# The missing slots are now zero-filled (the estimator warns about it).
bendr_zero = fitted("bendr", [data.ch_names[i] for i in front], X[:, front], missing_channels="zero")
fig = plot_channel_report(bendr_zero)
