"""Per-subject scores of a benchmark's results table."""

from __future__ import annotations

import numpy as np

from ._common import figure_and_axes, fit_x_tick_labels

# The columns of eegfm_sklearn.benchmark's DataFrame (one row per model, strategy, fold, seed).
RESULT_COLUMNS = ("model", "strategy", "seed", "fold", "test_group", "n_train", "n_test", "metric", "score",
                  "fit_seconds", "score_seconds")


def _check_results(results, metric):
    """The rows of ``results`` for one metric; clear errors for anything else."""
    import pandas as pd

    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame (as eegfm_sklearn.benchmark returns); "
                        f"got {type(results).__name__}.")
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results lacks the column(s) {missing}; a benchmark table has the columns "
                         f"{list(RESULT_COLUMNS)} (one row per model, strategy, fold and seed).")
    if results.empty:
        raise ValueError("results has no rows: nothing to plot.")
    metrics = sorted(results["metric"].astype(str).unique())
    if metric is None:
        if len(metrics) > 1:
            raise ValueError(f"results holds several metrics {metrics}; pick one with metric=.")
        metric = metrics[0]
    elif metric not in metrics:
        raise ValueError(f"metric={metric!r} is not in results (it holds {metrics}).")
    rows = results[results["metric"].astype(str) == metric]
    scores = pd.to_numeric(rows["score"], errors="coerce")
    if scores.isna().any():
        bad = rows.loc[scores.isna(), ["model", "strategy", "fold", "seed"]].head(3).to_dict("records")
        raise ValueError(f"results has scores that are not numbers (e.g. rows {bad}); "
                         "drop or fix those rows first.")
    return rows.assign(score=scores), metric


def _label(model, strategy):
    """Legend entry: ``model (strategy)``, or the model alone for baselines without a strategy."""
    strategy = "" if strategy is None or (isinstance(strategy, float) and np.isnan(strategy)) else str(strategy)
    return f"{model} ({strategy})" if strategy not in ("", "-") else str(model)


def subject_means(results, metric=None):
    """Mean score per (model, strategy, test_group): the average over seeds (and folds of a group).

    Parameters
    ----------
    results : pandas.DataFrame
        A benchmark table with the columns ``RESULT_COLUMNS``.
    metric : str or None, default=None
        Which metric's rows; None when the table holds one.

    Returns
    -------
    table : pandas.DataFrame, shape (n_test_groups, n_model_strategies)
        Index: ``test_group`` (sorted); columns: ``"model (strategy)"``
        labels in order of first appearance.
    """
    rows, _ = _check_results(results, metric)
    rows = rows.assign(_label=[_label(m, s) for m, s in zip(rows["model"], rows["strategy"])])
    table = rows.pivot_table(index="test_group", columns="_label", values="score", aggfunc="mean", sort=True)
    table = table[list(dict.fromkeys(rows["_label"]))]
    table.columns.name = None
    return table


def plot_subject_scores(results, metric=None, chance=None, ax=None):
    """Score of each model and strategy on each held-out group (subject), averaged over seeds.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per model, strategy, fold and seed, with the columns of
        :func:`eegfm_sklearn.benchmark`'s table: ``model, strategy, seed,
        fold, test_group, n_train, n_test, metric, score, fit_seconds,
        score_seconds``.
    metric : str or None, default=None
        Which metric to draw; None when the table holds only one.
    chance : float or None, default=None
        Chance level, drawn as a dashed horizontal line (e.g. 0.5 for
        balanced accuracy with two classes).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One line with markers per ``"model (strategy)"`` (the legend
        label); x: the held-out groups in sorted order (positions
        0..n_test_groups-1, ticks labelled with the group), y: the mean
        score over seeds (and over folds sharing that test group).

    Raises
    ------
    ValueError
        Missing columns, several metrics without ``metric=``, or scores
        that are not numbers.
    """
    table = subject_means(results, metric)
    metric = _check_results(results, metric)[1]
    fig, ax = figure_and_axes(ax, figsize=(max(6.4, 0.45 * len(table) + 3), 4.0))
    x = np.arange(len(table))
    for label in table.columns:
        ax.plot(x, table[label].to_numpy(), marker="o", label=label)
    if chance is not None:
        ax.axhline(float(chance), color="0.4", linestyle="--", linewidth=1, label=f"chance ({chance:g})")
    ax.set_xticks(x, [str(g) for g in table.index])
    ax.set_xlabel("held-out group (test_group)")
    ax.set_ylabel(f"{metric} (mean over seeds)")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"{metric} per held-out group")
    fit_x_tick_labels(ax)  # rotated only when the names overlap
    return fig
