"""What every plot shares: matplotlib imported on first use, a figure for ``ax=None``."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot``, imported here (never when the package is imported)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - matplotlib ships with mne
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from err
    return plt


def figure_and_axes(ax, figsize=(6.4, 4.0)):
    """The figure of ``ax``, or a new figure with one axes when ``ax`` is None.

    New figures come from ``pyplot`` so that sphinx-gallery and notebooks
    pick them up; nothing is shown.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None for a new figure); got {type(ax).__name__}.")
    try:
        fig = ax.get_figure(root=True)  # the Figure, also for an axes inside a SubFigure
    except TypeError:  # matplotlib < 3.10
        fig = ax.get_figure()
    return fig, ax
