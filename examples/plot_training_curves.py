"""
Training curves of a fine-tuned model
=====================================

Fine-tune a small BIOT on EEGMAT (rest vs mental arithmetic) for three
epochs and plot what skorch recorded in the estimator's ``history_``: the
training loss, the validation loss of the windows held out by
``early_stopping=True``, and a validation score added as a skorch
``EpochScoring`` callback.

The model runs with random weights (``weights=None``) and the card's tiny
architecture so the example takes seconds; drop ``model_kwargs`` and pass
``weights="biot-prest-16"`` for a pretrained start (the checkpoints are listed
in each model's card, ``get_model_card("biot").checkpoints``).
The recordings are read from ``$EEGFM_DATA_DIR/eegmat`` (downloaded from
PhysioNet when absent).
"""

# %%
# Two subjects, 4 s windows
# -------------------------
from sklearn.metrics import balanced_accuracy_score
from skorch.callbacks import EpochScoring

from eegfm_sklearn import FoundationClassifier, get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.viz import plot_training_curves

try:
    data = load_eegmat(subjects=range(2), window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
print(f"{len(data.y)} windows, {data.X.shape[1]} channels x {data.X.shape[2]} samples at {data.sfreq:g} Hz")


# %%
# Fine-tune with a held-out validation split
# ------------------------------------------
# The net inside the estimator sees labels encoded as 0..n_classes-1 and
# returns logits; the callback scores the held-out windows after each epoch.
def valid_balanced_accuracy(net, X, y):
    return balanced_accuracy_score(y, net.predict(X).argmax(axis=1))


clf = FoundationClassifier(
    "biot", model_kwargs=dict(get_model_card("biot").tiny_kwargs), sfreq=data.sfreq, ch_names=data.ch_names,
    max_epochs=3, lr=1e-3, batch_size=16, early_stopping=True, validation_fraction=0.25, random_state=0,
    callbacks=[("valid_bacc", EpochScoring(valid_balanced_accuracy, lower_is_better=False, name="valid_bacc"))],
)
clf.fit(data.X, data.y)

# %%
# The curves
# ----------
# Losses on the left axis, the validation score on the right; the star marks
# the epoch with the lowest validation loss, whose weights early stopping
# keeps.
fig = plot_training_curves(clf)
