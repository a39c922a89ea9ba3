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


def tick_labels_overlap(ax, axis="x"):
    """Whether any two of ``ax``'s tick labels on ``axis`` overlap, as rendered now."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def fit_x_tick_labels(ax):
    """Rotate the x tick labels (45 degrees, anchored at their tick) when they overlap horizontally;
    vertical (90 degrees) if they still do. Long group names (``"subject-0001"``) overlapped."""
    for angle in (45, 90):
        if not tick_labels_overlap(ax):
            return
        for label in ax.get_xticklabels():
            label.set_rotation(angle)
            label.set_horizontalalignment("right" if angle == 45 else "center")
            label.set_rotation_mode("anchor" if angle == 45 else "default")
