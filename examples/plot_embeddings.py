"""
Embeddings in two dimensions
============================

Embed EEGMAT windows with a frozen encoder
(:class:`~eegfm_sklearn.FoundationTransformer`) and look at them in 2-D,
projected by PCA and by t-SNE, coloured by task (left) and by subject
(right): across subjects, EEG features often group by person more than by
task, which is what leave-subjects-out evaluation guards against.

The encoder is a tiny LaBraM with random weights (``weights=None``) so the
example runs in seconds, and its embeddings show little structure; without
the tiny ``model_kwargs`` and with ``weights="labram-base"`` the same code
shows the pretrained embeddings.
"""

# %%
# Four subjects, 4 s windows
# --------------------------
import matplotlib.pyplot as plt

from eegfm_sklearn import FoundationTransformer, get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.viz import plot_embedding_2d

try:
    data = load_eegmat(subjects=range(4), window_seconds=4.0)
except DataNotFoundError as err:  # no recordings, no network: what to do, without a traceback
    raise SystemExit(f"error: {err}") from None
encoder = FoundationTransformer("labram", model_kwargs=dict(get_model_card("labram").tiny_kwargs),
                                sfreq=data.sfreq, ch_names=data.ch_names, random_state=0)
embeddings = encoder.fit_transform(data.X)
print(f"embeddings: {embeddings.shape} (windows x features)")

# %%
# PCA and t-SNE, by task and by subject
# -------------------------------------
# Each function draws on the axes it is given and returns the figure.
fig, axes = plt.subplots(2, 2, figsize=(10, 8.5), layout="constrained")
subjects = [f"subject {g}" for g in data.groups]
for row, method in enumerate(("pca", "tsne")):
    plot_embedding_2d(embeddings, data.y, method=method, ax=axes[row, 0])
    plot_embedding_2d(embeddings, subjects, method=method, ax=axes[row, 1])
