"""The adapter's channel report as a sensor map (mne.viz.plot_sensors)."""

from __future__ import annotations

import numpy as np

from ._common import figure_and_axes

# One colour per status (colour-blind-safe Dark2 hues; zero-filled in grey: no signal there).
STATUS_COLORS = {
    "matched": "#1b9e77",
    "derived": "#7570b3",
    "interpolated": "#d95f02",
    "zero": "#999999",
}


def _report_of(source):
    """The ChannelReport of a fitted estimator (or the report itself), and the estimator or None."""
    from ..preprocessing.montage import ChannelReport

    if isinstance(source, ChannelReport):
        return source, None
    if hasattr(source, "get_params"):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(source, "adapter_")
        return source.channel_report_, source
    raise TypeError(f"Pass a fitted foundation estimator or a ChannelReport; got {type(source).__name__}.")


def _input_positions(positions, ch_names):
    """User channel name -> head-frame position (m), from a dict, an Info, a DigMontage or a montage name."""
    import mne

    from ..preprocessing.montage import head_positions

    if isinstance(positions, mne.Info):  # before dict: an Info is one
        return {ch["ch_name"]: ch["loc"][:3].copy() for ch in positions["chs"]
                if np.all(np.isfinite(ch["loc"][:3])) and np.any(ch["loc"][:3])}
    if positions is None or isinstance(positions, dict):
        return dict(positions or {})
    if isinstance(positions, str):
        positions = mne.channels.make_standard_montage(positions)
    if isinstance(positions, mne.channels.DigMontage):
        known = head_positions(positions)
        return {n: known[n.upper()] for n in ch_names if n.upper() in known}
    raise TypeError("positions must be None, a dict name -> (x, y, z) in metres (head frame), an mne Info, "
                    f"a DigMontage or a standard montage name; got {type(positions).__name__}.")


def _electrodes(slot, scheme):
    """Referential electrodes a slot is computed from (``A-B`` read as a pair without a scheme)."""
    if scheme is not None:
        return tuple(scheme.electrodes(slot))
    return tuple(slot.split("-")) if "-" in slot.strip("-") else (slot,)


def slot_plot_positions(report, scheme=None, positions=None, slot_positions=None):
    """Where each slot of a report is drawn: its electrode, or the midpoint of its electrodes.

    Parameters
    ----------
    report : ChannelReport
    scheme : ChannelScheme or None
        The card's channel scheme (which electrodes feed a slot); None reads
        a slot named ``"A-B"`` as the pair A, B and any other name as one
        electrode.
    positions : dict or None
        Input channel name -> head-frame position (m). A slot's electrode
        found among the input channels (its source) takes that position;
        others take the template 10-05 position of their name.
    slot_positions : ndarray of shape (n_slots, 3) or None
        Positions the model itself used (position-aware cards); they win.

    Returns
    -------
    xyz : ndarray, shape (n_slots, 3)
        Head-frame metres; NaN rows for slots with an electrode of unknown
        position.
    """
    from ..preprocessing.channels import name_variants, normalize_name
    from ..preprocessing.montage import head_positions, standard_montage

    if slot_positions is not None:
        return np.asarray(slot_positions, dtype=float).reshape(len(report.slots), 3)
    template = head_positions(standard_montage())
    by_name = {normalize_name(n): np.asarray(p, dtype=float) for n, p in (positions or {}).items()}
    out = np.full((len(report.slots), 3), np.nan)
    for k, slot in enumerate(report.slots):
        xyz = []
        for electrode in _electrodes(slot, scheme):
            variants = name_variants(electrode)
            found = next((by_name[v] for v in variants if v in by_name), None)
            found = found if found is not None else next((template[v] for v in variants if v in template), None)
            xyz.append(found)
        if xyz and all(p is not None for p in xyz):
            out[k] = np.mean(xyz, axis=0)
    return out


def plot_channel_report(source, positions=None, card=None, show_names=True, ax=None):
    """Sensor map of the channel report: each slot coloured by matched / derived / interpolated / zero.

    Drawn with :func:`mne.viz.plot_sensors` (head outline, positions
    projected onto a sphere). A slot computed from one electrode sits at
    that electrode; a slot computed from several (a bipolar pair such as
    BIOT's ``"FP1-F7"``) sits at the **midpoint** of its electrodes, so a
    pair is drawn between the two electrodes it subtracts. Positions come
    from the recording (or ``positions``) for electrodes found in the
    input, else from the template 10-05 montage; cards that place channels
    by position draw the positions the model received. Slots with an
    electrode of unknown position are not drawn and are named under the
    map, as are unused input channels.

    Parameters
    ----------
    source : fitted estimator or ChannelReport
        A fitted :class:`~eegfm_sklearn.FoundationTransformer`,
        ``FoundationClassifier`` or ``FoundationRegressor`` (its
        ``channel_report_``, card and recording positions are used), or a
        :class:`~eegfm_sklearn.ChannelReport`.
    positions : dict or mne.Info or mne.channels.DigMontage or str or None, default=None
        Positions of the input channels: name -> (x, y, z) in metres (head
        frame), the recording's ``info`` (with a montage), a montage, or a
        standard montage name. Default: the estimator's recording positions
        (none for a bare report).
    card : str or ModelCard or None, default=None
        With a bare report: the model whose scheme says which electrodes
        feed each slot. None reads ``"A-B"`` slot names as pairs.
    show_names : bool, default=True
        Write each slot's name beside it.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The scatter's points are the drawn slots in report order (shape
        (n_drawn, 2) offsets), face colours ``STATUS_COLORS[status]``; the
        legend counts slots per status.
    """
    import mne

    report, estimator = _report_of(source)
    scheme, slot_pos = None, None
    if estimator is not None:
        scheme = estimator.card_.channels
        slot_pos = estimator.adapter_.slot_positions_
        if positions is None:
            positions = estimator.recording_info_.positions
        ch_names = estimator.recording_info_.ch_names
    else:
        if card is not None:
            from ..cards import get_model_card

            scheme = get_model_card(card).channels
        ch_names = [n for src in report.sources for n in src.split(" - ")] + list(report.unused)
    unknown = [s for s in report.status if s not in STATUS_COLORS]
    if unknown:
        raise ValueError(f"Unknown slot status {sorted(set(unknown))}; expected one of {list(STATUS_COLORS)}.")
    xyz = slot_plot_positions(report, scheme, _input_positions(positions, ch_names), slot_pos)
    drawn = np.flatnonzero(np.isfinite(xyz).all(axis=1))
    if len(drawn) == 0:
        raise ValueError(f"No slot of the report has a known position (slots {list(report.slots)}); pass "
                         "positions= (a montage or name -> position) for the input channels.")
    names = [report.slots[k] for k in drawn]
    info = mne.create_info(names, 100.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(dict(zip(names, xyz[drawn])), coord_frame="head"))
    # one group per status present, coloured through a listed colormap of exactly those colours
    present = [s for s in STATUS_COLORS if any(report.status[k] == s for k in drawn)]
    groups = [[i for i, k in enumerate(drawn) if report.status[k] == s] for s in present]
    from matplotlib.colors import ListedColormap

    fig, ax = figure_and_axes(ax, figsize=(5.5, 5.5))
    mne.viz.plot_sensors(info, kind="topomap", ch_groups=groups, cmap=ListedColormap([STATUS_COLORS[s]
                                                                                       for s in present]),
                         show_names=False, axes=ax, show=False, pointsize=90, linewidth=0.5)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="none", markersize=9, markerfacecolor=STATUS_COLORS[s],
                      markeredgecolor="k", markeredgewidth=0.5, label=f"{s} ({report.count(s)})")
               for s in STATUS_COLORS if report.count(s)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    notes = []
    hidden = [report.slots[k] for k in range(len(report.slots)) if k not in set(drawn)]
    if hidden:
        notes.append(f"not drawn (no known position): {', '.join(hidden)}")
    if report.unused:
        notes.append(f"unused inputs: {', '.join(report.unused)}")
    if notes:
        ax.text(0.5, -0.02, "\n".join(notes), transform=ax.transAxes, ha="center", va="top", fontsize="small",
                wrap=True)
    model = f"{estimator.card_.name}: " if estimator is not None else ""
    ax.set_title(f"{model}{len(report.slots)} channels the model reads")
    if show_names:
        scatter = next(c for c in ax.collections if len(c.get_offsets()) == len(names))
        label_points(ax, scatter.get_offsets(), names)
    return fig


# Where a label may go around its point (unit directions, tried in order) and how far (points).
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))
_DISTANCES = (4, 9, 15, 22, 30)


def label_points(ax, xy, names, fontsize=7, marker_points=10.0):
    """Write ``names`` beside the points ``xy`` (data coordinates), no label over another or over a point.

    Each label takes the first place around its point, nearest first, whose box overlaps no label
    placed before it, no point and stays inside the figure (the least overlap if none is free); a
    label moved away from its point gets a thin leader line. Long names (BIOT's ``"FP1-F7"``
    pairs sit at the midpoints of neighbouring electrodes) are why mne's fixed placement overlapped.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xy : array of shape (n, 2)
    names : list of str, length n
    fontsize : float
    marker_points : float
        Marker diameter in points (kept free of labels).

    Returns
    -------
    texts : list of matplotlib.text.Annotation
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()  # settle the layout: the boxes below are measured in display space
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    half = marker_points / 72 * fig.dpi / 2
    centres = ax.transData.transform(np.asarray(xy, dtype=float))
    taken = [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in centres]

    def overlap(box):
        area = sum(max(0.0, min(box.x1, b.x1) - max(box.x0, b.x0)) * max(0.0, min(box.y1, b.y1) - max(box.y0, b.y0))
                   for b in taken)
        outside = box.width * box.height - max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0)) * max(
            0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
        return area + outside

    texts = []
    for (x, y), name in zip(np.asarray(xy, dtype=float), names):
        best = None
        for dist in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                text = ax.annotate(
                    name, (x, y), xytext=(dx * dist, dy * dist), textcoords="offset points", fontsize=fontsize,
                    ha={1: "left", -1: "right", 0: "center"}[dx], va={1: "bottom", -1: "top", 0: "center"}[dy],
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="0.35", shrinkA=0, shrinkB=4) if dist > 9 else None)
                text.set_in_layout(False)  # the layout measured above stays as it is
                box = text.get_window_extent(renderer)
                cost = overlap(box)
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, text, box)
                else:
                    text.remove()
                if cost == 0:
                    break
            if best[0] == 0:
                break
        taken.append(best[2])
        texts.append(best[1])
    return texts
