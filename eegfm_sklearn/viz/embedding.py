"""Embeddings projected to 2-D, coloured by label."""

from __future__ import annotations

import numpy as np

from ._common import figure_and_axes

METHODS = ("pca", "tsne")
SMALL_TSNE = 2000  # below this many samples t-SNE runs on one OpenMP thread


def project_2d(embeddings, method="pca", random_state=0, perplexity=None):
    """Project embeddings to 2-D, as ``plot_embedding_2d`` draws them.

    Parameters
    ----------
    embeddings : array-like, shape (n_samples, n_features)
        Finite values, at least 3 samples and 2 features (e.g. the output
        of :meth:`FoundationTransformer.transform`).
    method : {"pca", "tsne"}, default="pca"
        scikit-learn's ``PCA(n_components=2)`` or ``TSNE(n_components=2)``.
    random_state : int or None, default=0
        Seed of the projection (t-SNE's initialisation, PCA's randomized solver).
    perplexity : float or None, default=None
        For t-SNE only; None uses ``min(30, (n_samples - 1) / 3)`` (t-SNE
        needs it below ``n_samples``).

    Returns
    -------
    points : ndarray, shape (n_samples, 2)
        The projected rows, in the order of ``embeddings``.
    """
    return _project(embeddings, method, random_state, perplexity)[0]


def _project(embeddings, method, random_state, perplexity):
    """Projected points, shape (n_samples, 2), and the two axis labels."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    X = np.asarray(embeddings, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n_samples, n_features); got shape {X.shape}. "
                         "Pass the output of FoundationTransformer.transform.")
    if X.shape[0] < 3 or X.shape[1] < 2:
        raise ValueError(f"A 2-D projection needs at least 3 samples and 2 features; got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or infinite values; drop those rows first.")
    if method == "pca":
        pca = PCA(n_components=2, random_state=random_state)
        points = pca.fit_transform(X)
        ratios = pca.explained_variance_ratio_
        return points, [f"PC {i + 1} ({100 * r:.0f} % of variance)" for i, r in enumerate(ratios)]
    if method == "tsne":
        if perplexity is None:
            perplexity = min(30.0, (X.shape[0] - 1) / 3.0)
        if not 0 < perplexity < X.shape[0]:
            raise ValueError(f"perplexity={perplexity} must be in (0, n_samples={X.shape[0]}).")
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state)
        # Few points: one OpenMP thread. Barnes-Hut's threads gain nothing there and spin-wait on a
        # busy machine (120 windows on 2 loaded cores: 23 s with 2 threads, 1.4 s with one; measured).
        threads = 1 if X.shape[0] < SMALL_TSNE else None
        with threadpool_limits(threads, user_api="openmp"):
            return tsne.fit_transform(X), ["t-SNE 1", "t-SNE 2"]
    raise ValueError(f"method={method!r}; use one of {METHODS}.")


def plot_embedding_2d(embeddings, labels, method="pca", random_state=0, perplexity=None, ax=None):
    """Scatter of embeddings projected to 2-D (PCA or t-SNE), one colour per label.

    Parameters
    ----------
    embeddings : array-like, shape (n_samples, n_features)
        For example the output of :meth:`FoundationTransformer.transform`.
    labels : array-like, shape (n_samples,)
        Class (or subject, session...) of each row.
    method : {"pca", "tsne"}, default="pca"
        Projection: scikit-learn's ``PCA`` (axes labelled with their
        explained variance) or ``TSNE``.
    random_state : int or None, default=0
        Seed of the projection.
    perplexity : float or None, default=None
        For t-SNE only; see :func:`project_2d`.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One scatter (``PathCollection``) per label, in sorted label order,
        whose offsets are that label's rows of the projection, shape
        (n_samples_of_label, 2).
    """
    labels = np.asarray(labels)
    n = np.shape(embeddings)[0] if np.ndim(embeddings) else 0
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"labels must have one entry per embedding row: got labels of shape {labels.shape} "
                         f"for embeddings of shape {np.shape(embeddings)}.")
    points, axis_labels = _project(embeddings, method, random_state, perplexity)
    fig, ax = figure_and_axes(ax, figsize=(5.5, 4.5))
    for i, label in enumerate(np.unique(labels)):
        mask = labels == label
        ax.scatter(points[mask, 0], points[mask, 1], s=18, color=f"C{i % 10}", label=str(label), alpha=0.8)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(loc="best", fontsize="small", title=None)
    ax.set_title(f"Embeddings ({method.upper() if method == 'pca' else 't-SNE'}, {n} windows)")
    return fig
