"""Channel names and the channel schemes a model card can declare.

Numpy only. A scheme lists the *slots* a backbone expects and which
referential *electrodes* each slot is computed from, as a linear map, so
the adapter can match, derive, interpolate or zero-fill every slot the same
way whatever the scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Old (10-20) names and the 10-10 names that replaced them.
_OLD_TO_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_NEW_TO_OLD = {v: k for k, v in _OLD_TO_NEW.items()}

_PREFIX = re.compile(r"^(EEG|EOG|ECG|EMG)[\s_:-]+", re.IGNORECASE)
# Reference suffixes written by EDF exporters (TUH "-REF"/"-LE", "-AR", "-A1"...).
_REF_SUFFIX = re.compile(r"[-_](REF|LE|AR|AVG)$", re.IGNORECASE)

# The 19 channels of the international 10-20 system (modern names): the montage a card's
# module is built for when no recording says otherwise (docs tables, converted checkpoints).
STANDARD_19 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz",
               "P4", "P8", "O1", "O2")


def normalize_name(name: str) -> str:
    """Canonical upper-case spelling of an electrode name.

    Strips an ``EEG`` type prefix (``"EEG Fp1"``), a reference suffix
    (``"Fp1-REF"``, ``"FP1-LE"``) and surrounding blanks, then upper-cases.
    Bipolar names (``"Fp1-F7"``) keep their dash.

    Parameters
    ----------
    name : str
        A channel name as found in a recording.

    Returns
    -------
    name : str
        e.g. ``"FP1"``.
    """
    out = _PREFIX.sub("", name.strip()).strip()
    out = _REF_SUFFIX.sub("", out)
    return out.replace(" ", "").upper()


def name_variants(name: str) -> tuple[str, ...]:
    """A normalised name and its old/new 10-20 equivalent, if any."""
    norm = normalize_name(name)
    if "-" in norm:
        parts = norm.split("-")
        alts = [tuple(_OLD_TO_NEW.get(p, _NEW_TO_OLD.get(p, p)) for p in parts)]
        return (norm,) + tuple("-".join(a) for a in alts if "-".join(a) != norm)
    alt = _OLD_TO_NEW.get(norm) or _NEW_TO_OLD.get(norm)
    return (norm, alt) if alt else (norm,)


def find_channel(target: str, user_index: dict[str, int], aliases: bool = True) -> int | None:
    """Index of ``target`` among the user's channels, or None.

    Parameters
    ----------
    target : str
        A slot or electrode name of a card.
    user_index : dict
        Normalised user name -> position in the user's data.
    aliases : bool, default=True
        Also accept the old/new 10-20 equivalent (T3 for T7...); False where
        the authors matched names exactly.
    """
    variants = name_variants(target) if aliases else (normalize_name(target),)
    for variant in variants:
        if variant in user_index:
            return user_index[variant]
    return None


def index_user_channels(ch_names) -> dict[str, int]:
    """Map normalised user names to positions; refuse ambiguous duplicates.

    Parameters
    ----------
    ch_names : list of str, length n_chans
        The user's channel names.

    Returns
    -------
    index : dict
        Normalised name -> position.
    """
    index: dict[str, int] = {}
    for pos, name in enumerate(ch_names):
        norm = normalize_name(name)
        if norm in index:
            raise ValueError(
                f"Channels {ch_names[index[norm]]!r} and {name!r} both read as "
                f"{norm!r}; rename one of them so each electrode appears once."
            )
        index[norm] = pos
    return index


@dataclass(frozen=True)
class ChannelScheme:
    """Base class: the ordered slots a backbone reads.

    Subclasses define ``slots(user_names)`` (the slot names for a given
    input), ``electrodes(slot)`` (referential electrodes a slot needs) and
    ``combine(slot)`` (their weights, e.g. (+1, -1) for a bipolar pair).
    """

    def slots(self, user_names) -> tuple[str, ...]:
        raise NotImplementedError

    def electrodes(self, slot: str) -> tuple[str, ...]:
        return (slot,)

    def combine(self, slot: str) -> np.ndarray:
        return np.ones(len(self.electrodes(slot)))

    def fills_missing(self) -> bool:
        """Whether slots absent from the data must still be produced."""
        return True

    # Whether a slot also takes its old/new 10-20 equivalent (T3 for T7); see FixedChannels.
    aliases = True

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class FixedChannels(ChannelScheme):
    """A fixed, ordered list of referential electrodes (e.g. BENDR's 19).

    ``aliases=False``: a slot takes only a channel of its own name, not its
    old/new 10-20 equivalent (the authors' mapping kept T3 and T7 apart).
    """

    names: tuple[str, ...]
    aliases: bool = True

    def slots(self, user_names=None):
        return self.names

    def describe(self):
        text = f"{len(self.names)} fixed: " + ", ".join(self.names)
        return text if self.aliases else text + " (names matched exactly, no old/new aliases)"


@dataclass(frozen=True)
class BipolarChannels(ChannelScheme):
    """Ordered bipolar pairs ``A-B`` = A minus B (e.g. BIOT's TCP montage)."""

    pairs: tuple[tuple[str, str], ...]

    def slots(self, user_names=None):
        return tuple(f"{a}-{b}" for a, b in self.pairs)

    def electrodes(self, slot):
        return tuple(slot.split("-"))

    def combine(self, slot):
        return np.array([1.0, -1.0])

    def describe(self):
        return f"{len(self.pairs)} bipolar: " + ", ".join(self.slots())


@dataclass(frozen=True)
class ChannelVocabulary(ChannelScheme):
    """Any subset of a named vocabulary (channel-indexed embeddings, LaBraM).

    The slots are the user's channels found in the vocabulary, in the
    user's order, each under its vocabulary spelling (an exact name wins
    over an old/new 10-20 alias); nothing needs to be filled in.
    """

    names: tuple[str, ...]

    def slots(self, user_names):
        vocab = {n.upper(): n for n in self.names}
        out = []
        for name in user_names:
            for variant in name_variants(name):
                if variant in vocab and vocab[variant] not in out:
                    out.append(vocab[variant])
                    break
        return tuple(out)

    def fills_missing(self):
        return False

    def describe(self):
        return f"any of {len(self.names)} named channels"


@dataclass(frozen=True)
class AnyChannels(ChannelScheme):
    """Whatever channels the input has, in its order (CBraMod, position-aware models).

    Each input channel is one slot; nothing is derived or filled in. Models
    that place channels by position (SignalJEPA, REVE, LUNA...) get each
    slot's position from the recording, the montage, or the template 10-05
    montage by name (see ``ModelCard.uses_positions``).

    Parameters
    ----------
    max_channels : int or None
        Most channels the backbone takes (None: no limit).
    """

    max_channels: int | None = None

    def slots(self, user_names):
        names = tuple(user_names)
        if self.max_channels is not None and len(names) > self.max_channels:
            raise ValueError(
                f"This model takes at most {self.max_channels} channels; the input has {len(names)}. "
                "Pick the channels to keep (e.g. epochs.pick([...]) or fewer ch_names)."
            )
        return names

    def fills_missing(self):
        return False

    def describe(self):
        limit = f" (at most {self.max_channels})" if self.max_channels else ""
        return f"any channels, in the input's order{limit}"
