"""ST-EEGFormer's channel vocabulary: electrode name -> channel-embedding row.

The released checkpoints learn one channel-embedding row per electrode of a
shared vocabulary (the authors' ``channels_mapping``). braindecode 1.8.1
downloads it (``steegformer_channels.json`` of ``braindecode/STEEGFormer-small``)
when a model is built with ``chs_info``, and falls back to channel i -> row i,
with a warning, when it cannot. Its order follows no montage mne ships (it
looks like a Python set's iteration order), so it cannot be derived; the
table below is braindecode's own copy of that file (shipped inside the
package at braindecode commit f950777), 142 names for the 145 rows of
small/base/large (rows 142-144 and largeV2's rows 145-255 have no name:
the authors use them for HBN's EGI HydroCel electrodes). The authors'
hard-coded HBN table agrees with it (tests/test_card_steegformer.py).
Modules are always built with an explicit ``chan_pos_idx``, so braindecode
never reaches for the network nor falls back silently.
"""

from __future__ import annotations

from dataclasses import dataclass

STEEGFORMER_CHANNELS = tuple(
    """C1 Pz C4 F6 FTT8h Oz Fp1 FCC5h TPP8h CPP6h C2 F4 OI2h AF4 FCz CCP6h TP8 POO10h FC1 FC6 C5
    P8 FT8 P6 P9 Fz AFF1 TPP10h AFF2 P10 CPP2h M1 FCC6h FTT7h FC2 PPO2 AFp3h AF7 PO10 AF8 CPP1h
    P7 F1 AFp4h PO9 FT9 CP2 Iz FCC1h FC5 T5 CP5 CP6 FFC5h F2 M2 POO9h AFF5h PO4 POO3h Fp2 T3
    CP4 POz TTP7h T7 A2 CCP4h T8 PPO10h FC3 F3 F5 A1 P3 FC4 FCC2h FFC6h FFT8h CCP2h CPP4h T6
    FTT9h PPO6h CP3 CP1 AF3 FT10 OI1h TPP9h P5 I2 CCP1h T4 CCP3h O1 PO5 PPO9h PPO5h P1 AFz PO6
    PO3 O2 CPP5h FFC1h FCC4h FFT7h FFC2h FFC4h Cz TP7 Fpz FTT10h PO7 CPP3h P4 P2 F8 CPz FCC3h
    FFC3h FT7 I1 TTP8h AFF6h CCP5h C6 PPO1 PO8 C3 POO4h TPP7h F7 T9 TP9 T10 TP10 POO1 POO2
    PPO1h PPO2h""".split()
)
_ROW = {name.upper(): row for row, name in enumerate(STEEGFORMER_CHANNELS)}


def vocabulary_rows(slots) -> list[int]:
    """Channel-embedding row of each slot (a vocabulary spelling, any case).

    Raises
    ------
    ValueError
        For a name outside the vocabulary (the channel scheme never yields one).
    """
    unknown = [s for s in slots if s.upper() not in _ROW]
    if unknown:
        raise ValueError(f"{unknown} are not in ST-EEGFormer's channel vocabulary; drop these channels.")
    return [_ROW[s.upper()] for s in slots]


@dataclass(frozen=True)
class VocabularyRows:
    """``build_extra``: each slot's vocabulary row as braindecode's ``chan_pos_idx``.

    Without slot names (a module built for its weights alone) nothing is
    passed, and braindecode uses channel i -> row i with a warning.
    """

    def __call__(self, slots, positions):
        return {} if slots is None else {"chan_pos_idx": vocabulary_rows(slots)}
