"""Montage planning: which model slot comes from which user channel, and how.

``plan_channels`` maps a card's channel scheme onto the user's channels (match,
bipolar derivation, spherical-spline interpolation from head positions, or zero),
and ``ChannelReport`` records what was done. Cards and plots use this module
without the rest of the input adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mne
import numpy as np
import torch

from .channels import find_channel, index_user_channels, normalize_name

MISSING_POLICIES = ("interpolate", "zero")


class ChannelWarning(UserWarning):
    """A slot was zero-filled or a user channel goes unused."""


@dataclass(frozen=True)
class ChannelReport:
    """What the adapter did for each slot of the backbone.

    Built by the adapter (``channel_report_`` of a fitted estimator); each
    field is an attribute of the same name.

    Parameters
    ----------
    slots : tuple of str, length n_slots
        Slot names in the backbone's order.
    status : tuple of str, length n_slots
        ``"matched"``, ``"derived"``, ``"interpolated"`` or ``"zero"``.
    sources : tuple of str, length n_slots
        The user channel(s) each slot was computed from.
    unused : tuple of str, default=()
        User channels that feed no slot.
    """

    slots: tuple[str, ...]
    status: tuple[str, ...]
    sources: tuple[str, ...]
    unused: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str]:
        """Map each slot to its status.

        Returns
        -------
        statuses : dict of str to str
            Slot name -> ``"matched"``, ``"derived"``, ``"interpolated"``
            or ``"zero"``, in the backbone's order.
        """
        return dict(zip(self.slots, self.status))

    def count(self, status: str) -> int:
        """Count the slots with a given status.

        Parameters
        ----------
        status : str
            ``"matched"``, ``"derived"``, ``"interpolated"`` or ``"zero"``.

        Returns
        -------
        n_slots : int
            Number of slots with that status (0 for any other string).
        """
        return sum(s == status for s in self.status)

    def __str__(self):
        width = max((len(s) for s in self.slots), default=4)
        rows = [f"{slot:<{width}}  {st:<12}  {src}" for slot, st, src in zip(self.slots, self.status, self.sources)]
        if self.unused:
            rows.append(f"unused input channels: {', '.join(self.unused)}")
        return "\n".join(rows)


@dataclass
class _ChannelPlan:
    matrix: np.ndarray  # (n_slots, n_in)
    report: ChannelReport
    extra: dict = field(default_factory=dict)


def standard_montage():
    """The template 10-05 montage (mne renamed standard_1005 to colin27_1005)."""
    name = "colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages() else "standard_1005"
    return mne.channels.make_standard_montage(name)


def head_positions(montage, names=None):
    """Electrode positions in mne's head frame, keyed by upper-case name.

    Parameters
    ----------
    montage : DigMontage
    names : list of str or None
        Only these (case-insensitive); default all.

    Returns
    -------
    positions : dict
        Upper-case name -> ndarray of shape (3,), metres.
    """
    names = montage.ch_names if names is None else [n for n in montage.ch_names if n.upper() in
                                                    {m.upper() for m in names}]
    info = mne.create_info(list(names), 1000.0, "eeg")
    info.set_montage(montage, on_missing="ignore", verbose=False)
    return {ch["ch_name"].upper(): ch["loc"][:3].copy() for ch in info["chs"]
            if np.all(np.isfinite(ch["loc"][:3])) and np.any(ch["loc"][:3])}


# Head radius (m) of an adult: distances from the head frame's origin are about 0.07-0.11 m.
_HEAD_RADIUS_M = (0.02, 0.5)
# Unit slips seen in the wild, by how far from the origin a typical electrode then lies.
_UNIT_SLIPS = (("millimetres", 20.0, 2000.0, 1000), ("centimetres", 2.0, 20.0, 100))
_COINCIDENT_M = 1e-3  # electrodes closer than 1 mm are one point


def check_positions(positions, where="the electrode positions"):
    """Refuse positions that cannot be a head: wrong unit, all at one point, coincident.

    Parameters
    ----------
    positions : dict
        Channel name -> position (m, mne's head frame).
    where : str
        Where they came from, for the message.
    """
    if not positions:
        return
    names = list(positions)
    xyz = np.asarray([positions[n] for n in names], dtype=float).reshape(len(names), 3)
    if not np.isfinite(xyz).all():
        bad = [n for n, p in zip(names, xyz) if not np.isfinite(p).all()]
        raise ValueError(f"{where}: positions of {bad} are NaN or infinite; give finite positions (metres).")
    radius = float(np.median(np.linalg.norm(xyz, axis=1)))
    for unit, low, high, factor in _UNIT_SLIPS:
        if low <= radius < high:
            raise ValueError(
                f"{where} look like {unit} given as metres: the electrodes lie {radius:.3g} from the head's "
                f"centre (an adult head: about 0.09 m). mne's positions are in metres: divide them by {factor} "
                f"(e.g. make_dig_montage(ch_pos={{name: pos / {factor} ...}})).")
    if radius >= _HEAD_RADIUS_M[1]:
        raise ValueError(f"{where}: the electrodes lie {radius:.3g} m from the head's centre (an adult head: about "
                         "0.09 m); give positions in metres, in mne's head frame.")
    if len(names) < 2:
        return
    dist = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    if float(dist.max()) < _COINCIDENT_M:
        raise ValueError(f"{where}: all {len(names)} electrodes are at one point ({xyz[0].round(4).tolist()} m); "
                         "the montage carries no geometry. Give each channel its own position.")
    i, j = np.nonzero(np.triu(dist < _COINCIDENT_M, k=1))
    if len(i):
        pairs = [f"{names[a]}={names[b]}" for a, b in zip(i[:5], j[:5])]
        raise ValueError(f"{where}: {len(i)} pair(s) of electrodes share one position ({', '.join(pairs)}"
                         f"{' ...' if len(i) > 5 else ''}); each channel needs its own position (a copied "
                         "row in the montage?).")


def estimation_notice(card_name, report, nearest, inputs):
    """Warning text when most of a model's slots are estimated, not measured (None otherwise).

    ``nearest``: estimated electrode -> distance (m) to the nearest input electrode; ``inputs``: the
    input channels the slots are computed from.
    """
    n_slots, n_est = len(report.slots), report.count("interpolated")
    if n_slots == 0 or n_est * 2 <= n_slots:
        return None
    sources = list(inputs)
    lines = [(f"{n_est} of {card_name}'s {n_slots} input channels are estimated (spherical-spline "
              "interpolation), not measured")]
    if nearest:
        d = np.asarray(list(nearest.values())) * 100
        lines.append(f"the {len(nearest)} missing electrodes lie {d.min():.1f}-{d.max():.1f} cm (median "
                     f"{np.median(d):.1f} cm) from the nearest input electrode")
    return ("; ".join(lines) + f". The embedding then holds little beyond the {len(sources)} "
            f"channel(s) {sources}: consider a model that reads any channel set (list_models()), or record the "
            "model's channels. See channel_report_.")


def _interpolation_weights(n_in, sources, targets):
    """Rows of spherical-spline weights (n_targets, n_in) computed by mne.

    ``sources`` are (input index, position), ``targets`` name -> position.
    Runs mne's ``interpolate_bads`` on an identity signal: because the
    interpolation is linear, the bad channels' rows are the weights.
    """
    src_names = [f"src{i}" for i, _ in sources]
    ch_pos = {name: pos for name, (_, pos) in zip(src_names, sources)}
    ch_pos.update({f"dst{k}": pos for k, pos in enumerate(targets.values())})
    info = mne.create_info(list(ch_pos), sfreq=1000.0, ch_types="eeg")
    data = np.zeros((len(ch_pos), len(sources)))
    data[: len(sources)] = np.eye(len(sources))
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.set_montage(mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head"), verbose=False)
    raw.info["bads"] = [n for n in ch_pos if n.startswith("dst")]
    raw.interpolate_bads(reset_bads=True, origin="auto", verbose=False)
    out = np.zeros((len(targets), n_in))
    out[:, [i for i, _ in sources]] = raw.get_data()[len(sources):]
    return out


def plan_channels(scheme, user_names, missing="interpolate", positions=None):
    """Plan the linear map from the user's channels to a scheme's slots.

    Parameters
    ----------
    scheme : ChannelScheme
        The card's channel scheme.
    user_names : list of str, length n_in
        Channel names of the input.
    missing : {"interpolate", "zero"}
        What to do with slots whose electrodes the data lacks.
    positions : dict or None
        Input channel name -> head-frame position (from the recording's
        montage). Channels without one use the template 10-05 position of
        their name.

    Returns
    -------
    plan : _ChannelPlan
        ``matrix`` of shape (n_slots, n_in) and its ``ChannelReport``.
    """
    index = index_user_channels(user_names)
    slots = scheme.slots(user_names)
    rows, status, sources, to_interp = [], [], [], {}
    used = set()
    for slot in slots:
        row = np.zeros(len(user_names))
        direct = find_channel(slot, index, scheme.aliases)
        if direct is not None:
            row[direct] = 1.0
            used.add(direct)
            rows.append(row), status.append("matched"), sources.append(user_names[direct])
            continue
        electrodes = scheme.electrodes(slot)
        found = [find_channel(e, index, scheme.aliases) for e in electrodes]
        weights = scheme.combine(slot)
        if all(i is not None for i in found):
            for i, w in zip(found, weights):
                row[i] += w
            used.update(found)
            kind = "derived" if len(found) > 1 else "matched"
            src = " - ".join(user_names[i] for i in found)
            rows.append(row), status.append(kind), sources.append(src)
            continue
        if missing == "zero":
            rows.append(row), status.append("zero"), sources.append("")
            continue
        for i, (e, w) in enumerate(zip(electrodes, weights)):
            if found[i] is None:
                to_interp.setdefault(e, []).append((len(rows), w))
            else:
                row[found[i]] += w
                used.add(found[i])
        src = " - ".join(user_names[i] if i is not None else f"~{e}" for e, i in zip(electrodes, found))
        rows.append(row), status.append("interpolated"), sources.append(src)

    template = head_positions(standard_montage()) if to_interp or not used else {}
    located = []  # (input index, position) of channels usable for interpolation
    for i, name in enumerate(user_names):
        pos = (positions or {}).get(name)
        pos = pos if pos is not None else template.get(normalize_name(name))
        if pos is not None:
            located.append((i, pos))
    nothing_found = not used and (missing == "zero" or len(located) < 3)
    if not slots or nothing_found:
        # Positions help only a scheme with fixed slots (interpolation); one that reads
        # channels by name (a vocabulary) has no slot to interpolate into.
        positions_help = bool(slots)
        raise ValueError(
            f"None of the channels {list(user_names)} maps onto this model's channels "
            f"({scheme.describe()}). Rename your channels to 10-20 names "
            "(e.g. 'Fp1', 'C3', 'T7'; 'EEG Fp1' and 'Fp1-REF' are understood too)"
            + (", or give their positions (an mne object with a montage, or the montage= param)."
               if positions_help else "; this model reads channels by name, so positions cannot stand in.")
        )
    matrix = np.array(rows).reshape(len(slots), len(user_names))
    if to_interp:
        unknown = [e for e in to_interp if e.upper() not in template]
        if len(located) < 3 or unknown:
            raise ValueError(
                f"Cannot interpolate {sorted(to_interp)}: need template positions for them and "
                f"positions for at least 3 input channels (found {len(located)}). Pass "
                "missing_channels='zero', or a montage giving your channels' positions."
            )
        targets = {e: template[e.upper()] for e in to_interp}
        given = {n: p for n, p in (positions or {}).items() if n in set(user_names)}
        check_positions(given, "The recording's electrode positions")  # the unit slip shows on these alone
        check_positions({user_names[i]: pos for i, pos in located}, "The input channels' positions")
        src = np.asarray([pos for _, pos in located], dtype=float)
        nearest = {e: float(np.linalg.norm(src - pos, axis=1).min()) for e, pos in targets.items()}
        weights = _interpolation_weights(len(user_names), located, targets)
        for wrow, targets in zip(weights, to_interp.values()):
            for slot_row, w in targets:
                matrix[slot_row] += w * wrow
        used.update(i for i, _ in located)
    unused = tuple(n for i, n in enumerate(user_names) if i not in used)
    report = ChannelReport(tuple(slots), tuple(status), tuple(sources), unused)
    return _ChannelPlan(matrix=matrix, report=report, extra={"nearest": nearest if to_interp else {},
                                                              "inputs": [n for n in user_names if n not in unused]})


def slot_positions(card, report, positions=None):
    """Head-frame position of every slot, for cards that place channels by position.

    A slot fed by one input channel takes that channel's position (from the
    recording or montage); otherwise the template 10-05 position of its name.

    Parameters
    ----------
    card : ModelCard
    report : ChannelReport
    positions : dict or None
        Input channel name -> position (m).

    Returns
    -------
    positions : ndarray of shape (n_slots, 3)

    Raises
    ------
    ValueError
        Naming every slot with no known position.
    """
    template = None
    out, unknown = [], []
    for slot, source in zip(report.slots, report.sources):
        pos = (positions or {}).get(source)
        if pos is None:
            template = head_positions(standard_montage()) if template is None else template
            pos = template.get(normalize_name(slot))
        if pos is None:
            unknown.append(slot)
        out.append(pos)
    if unknown:
        raise ValueError(
            f"{card.name} places channels by their 3-D positions, and none is known for {unknown}. "
            "Pass an mne object whose info has a montage, or montage= (a DigMontage or a "
            "standard montage name), or use standard 10-05 channel names."
        )
    given = {f"{slot} ({source})": pos for slot, source, pos in zip(report.slots, report.sources, out)
             if (positions or {}).get(source) is not None}
    check_positions(given, f"The recording's electrode positions ({card.name} places channels by position)")
    out = np.asarray(out, dtype=float).reshape(len(out), 3)
    check_positions(dict(zip(report.slots, out)), f"The positions of {card.name}'s channels")
    return out


def _map_channels(M, X, temporary=False):
    """(s, c) @ (n, c, t) -> (n, s, t) in float32, through torch's BLAS.

    numpy's ``@`` goes to OpenBLAS, whose own threads ignore ``torch.set_num_threads`` and, on a
    busy machine, made a 19 x 19 map of 16 x 7500-sample windows take 1.3 s instead of 40 ms.
    """
    if temporary and M.shape[0] == M.shape[1] and np.array_equal(M, np.eye(len(M), dtype=M.dtype)):
        return X  # the slots are the inputs in order, and X is the caller's own array: nothing to do
    return torch.matmul(torch.from_numpy(M), torch.from_numpy(np.ascontiguousarray(X))).numpy()
