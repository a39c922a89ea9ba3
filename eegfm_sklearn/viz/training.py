"""Training curves from a fine-tuned estimator's skorch history."""

from __future__ import annotations

import numbers

import numpy as np

from ._common import figure_and_axes

LOSSES = ("train_loss", "valid_loss")


def _epochs_of(source):
    """The per-epoch records (list of dict) of an estimator, a skorch net or a history."""
    history = getattr(source, "history_", None)  # FoundationClassifier / FoundationRegressor
    if history is None and hasattr(source, "history") and not isinstance(source, (list, tuple)):
        history = source.history  # a skorch NeuralNet
    if history is None:
        if hasattr(source, "get_params") and hasattr(source, "fit"):
            raise ValueError(
                f"{type(source).__name__} has no training history: fit a FoundationClassifier or "
                "FoundationRegressor first (FoundationTransformer trains nothing), or pass its history_."
            )
        history = source
    if hasattr(history, "to_list"):
        history = history.to_list()
    if not isinstance(history, (list, tuple)) or not all(isinstance(row, dict) for row in history):
        raise TypeError(
            "Pass a fitted FoundationClassifier/FoundationRegressor, a skorch net, or its history "
            f"(a list of one dict per epoch); got {type(source).__name__}."
        )
    if not history:
        raise ValueError("The history is empty: no epoch was trained (max_epochs >= 1).")
    return list(history)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _column(epochs, key):
    """One value per epoch (NaN where an epoch lacks it), or None when no epoch has a number for it."""
    values = [row.get(key) for row in epochs]
    if not any(_is_number(v) for v in values):
        return None
    return np.array([float(v) if _is_number(v) else np.nan for v in values])


def _default_metrics(epochs):
    """Validation scores recorded besides the loss (e.g. an EpochScoring named ``valid_acc``)."""
    keys = []
    for row in epochs:
        for key, value in row.items():
            if (key.startswith("valid_") and key != "valid_loss" and not key.endswith(("_best", "_count"))
                    and _is_number(value) and key not in keys):
                keys.append(key)
    return keys


def plot_training_curves(source, metrics=None, ax=None):
    """Loss per epoch (training and validation), and validation scores if recorded.

    Parameters
    ----------
    source : estimator, skorch net, skorch History or list of dict
        A fitted :class:`~eegfm_sklearn.FoundationClassifier` or
        :class:`~eegfm_sklearn.FoundationRegressor` (its ``history_``), a
        skorch ``NeuralNet`` (its ``history``), or the history itself: one
        dict per epoch with ``"epoch"``, ``"train_loss"`` and, with
        ``early_stopping=True`` (or any validation split), ``"valid_loss"``.
    metrics : list of str or None, default=None
        Other per-epoch keys to draw on a second y-axis (right). None: every
        numeric ``"valid_*"`` key besides ``"valid_loss"`` and skorch's
        ``*_best`` flags and ``*_batch_count`` (e.g. an
        ``EpochScoring`` callback named ``"valid_acc"``).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Losses as lines on ``ax`` (x: epoch numbers, shape (n_epochs,)),
        labelled by their history key; metrics on a twin axes. The epoch of
        the lowest validation loss is marked (early stopping restores it).

    Raises
    ------
    ValueError
        An estimator that was not fine-tuned, an empty history, or a
        ``metrics`` key that no epoch recorded.
    """
    epochs = _epochs_of(source)
    losses = {key: _column(epochs, key) for key in LOSSES}
    losses = {key: col for key, col in losses.items() if col is not None}
    if not losses:
        raise ValueError(f"The history records no loss: its keys are {sorted(epochs[0])}.")
    metric_keys = _default_metrics(epochs) if metrics is None else list(metrics)
    metric_cols = {key: _column(epochs, key) for key in metric_keys}
    missing = [key for key, col in metric_cols.items() if col is None]
    if missing:
        raise ValueError(f"No epoch recorded a number for {missing}; recorded keys: {sorted(epochs[-1])}.")
    x = np.array([row.get("epoch", i + 1) for i, row in enumerate(epochs)])

    fig, ax = figure_and_axes(ax)
    for key, col in losses.items():
        ax.plot(x, col, marker="o", label=key)
    if "valid_loss" in losses and np.isfinite(losses["valid_loss"]).any():
        best = int(np.nanargmin(losses["valid_loss"]))
        ax.plot([x[best]], [losses["valid_loss"][best]], linestyle="none", marker="*", markersize=14,
                color="k", label=f"lowest valid_loss (epoch {x[best]})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if len(x) <= 20:
        ax.set_xticks(x)
    handles, labels = ax.get_legend_handles_labels()
    if metric_cols:
        twin = ax.twinx()
        for i, (key, col) in enumerate(metric_cols.items()):
            twin.plot(x, col, marker="s", linestyle="--", color=f"C{len(losses) + 1 + i}", label=key)
        twin.set_ylabel("score")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="best")
    ax.set_title("Training curves")
    return fig
