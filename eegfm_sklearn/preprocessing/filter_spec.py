"""What filters a checkpoint's pretraining data went through, and how to say it (cards declare one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FilterSpec:
    """The filters a checkpoint's pretraining data went through.

    Parameters
    ----------
    l_freq : float or None
        High-pass edge (Hz); None for none.
    h_freq : float or None
        Low-pass edge (Hz); None for none.
    notch : tuple of float
        Line-noise frequencies removed (Hz).
    source : str
        Where the fact comes from (paper, code).
    """

    l_freq: float | None = None
    h_freq: float | None = None
    notch: tuple[float, ...] = ()
    source: str = ""

    def describe(self, sep: str = ", ") -> str:
        """Describe the filters in words, for tables and reports.

        Parameters
        ----------
        sep : str
            Between the band and the notch.

        Returns
        -------
        description : str
            E.g. ``"band-pass 0.1-75 Hz, notch 50 Hz"``; ``"none"`` when
            nothing is filtered.
        """
        parts = []
        if self.l_freq is not None and self.h_freq is not None:
            parts.append(f"band-pass {self.l_freq:g}-{self.h_freq:g} Hz")
        elif self.l_freq is not None:
            parts.append(f"high-pass {self.l_freq:g} Hz")
        elif self.h_freq is not None:
            parts.append(f"low-pass {self.h_freq:g} Hz")
        if self.notch:
            parts.append("notch " + ", ".join(f"{f:g}" for f in self.notch) + " Hz")
        return sep.join(parts) or "none"
