"""BENDR parity fixture from the authors' code (SPOClab-ca/BENDR with SPOClab-ca/dn3).

Builds their ``dn3_ext.ConvEncoderBENDR`` and ``BENDRContextualizer`` (reduced: encoder_h 32,
1 transformer layer, feed-forward 64; the published network is 512 / 8 / 3076), seeded, saves
them with their ``.save()`` as their release's ``encoder.pt`` and ``contextualizer.pt``, and runs
their downstream feature path (``BENDRClassification.features_forward``, dn3_ext.py:88-94:
encoder, then contextualizer; the contextualizer's output tokens) in eval mode on EEGMAT windows
prepared by DN3 as in their pretraining: ``MappingDeep1010`` with the TUEG limits of
configs/pretraining.yml:45-46 (dn3/transforms/instance.py:339-373: SCALE row from
``x.max() - x.min()`` over the dataset's span, one min-max over the Deep1010 EEG rows, unused
rows zero), then ``To1020`` (instance.py:404-434: 19 EEG rows + SCALE). Input: 256 Hz, µV (the
TUEG limits, +3276.7 / -1583.9, are in µV: 3276.7 is TUH's EDF physical maximum). EEGMAT's
T3/T4 are renamed T7/T8 here so every channel reaches a row To1020 reads (with the names T3/T4
DN3 leaves the T7/T8 rows at zero: tests/test_card_bendr.py checks the package does the same).

DN3 imports need parse, pyyaml-include<2 and moabb on PYTHONPATH (outside this project); the
script sets two compatibility aliases for today's Python and moabb before importing it.

    python tools/parity/make_bendr.py --repo /path/to/BENDR --dn3 /path/to/dn3
"""

import collections
import collections.abc
import sys
from types import SimpleNamespace

import numpy as np
import torch
from _common import bfloat16_grid, eegmat_windows, parse_args, write_fixture

DN3 = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--dn3="))
sys.argv = [a for a in sys.argv if not a.startswith("--dn3=")]
ARGS = parse_args(__doc__)
sys.path.insert(0, DN3)
for name in ("Iterable", "Mapping", "Sequence"):  # dn3 predates Python 3.10
    setattr(collections, name, getattr(collections.abc, name))
import moabb.datasets as _md

for old in ("BNCI2014001", "BNCI2014004", "BNCI2015001"):  # moabb renamed these
    if not hasattr(_md, old):
        setattr(_md, old, getattr(_md, old[:8] + "_" + old[8:]))
from dn3.transforms.instance import MappingDeep1010, To1020
from dn3_ext import BENDRContextualizer, ConvEncoderBENDR

TUEG = {"data_max": 3276.7, "data_min": -1583.9258304722666}  # configs/pretraining.yml:45-46
SIZE = {"encoder_h": 32, "transformer_layers": 1, "contextualizer_hidden": 64, "transformer_heads": 8}

torch.manual_seed(0)
encoder = ConvEncoderBENDR(20, encoder_h=SIZE["encoder_h"])
contextualizer = BENDRContextualizer(SIZE["encoder_h"], hidden_feedforward=SIZE["contextualizer_hidden"],
                                     heads=SIZE["transformer_heads"], layers=SIZE["transformer_layers"],
                                     finetuning=True)
with torch.no_grad():  # every tensor away from its default, so a misplaced one shows
    for module in (encoder, contextualizer):
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
for module in (encoder, contextualizer):
    bfloat16_grid(module)
    module.eval()

X, names = eegmat_windows(256.0, 6.0, 2)
names = [{"T3": "T7", "T4": "T8"}.get(n, n) for n in names]
EEG_KIND = str(int(__import__("mne").io.constants.FIFF.FIFFV_EEG_CH))  # DN3 reads (name, kind) rows
dataset = SimpleNamespace(channels=np.array([[n, EEG_KIND] for n in names]), info=SimpleNamespace(**TUEG))
mapping, to1020 = MappingDeep1010(dataset), To1020()
trials = torch.stack([to1020(mapping(torch.from_numpy(x.astype(np.float32))))[0] for x in X])
with torch.no_grad():
    context = contextualizer(encoder(trials))  # (n, dim, 1 + steps): start token first
features = context.transpose(1, 2)[:, 1:].flatten(1).numpy()  # the card's "flatten" tokens


def save(folder):
    folder.mkdir(exist_ok=True)
    encoder.save(folder / "encoder.pt")
    contextualizer.save(folder / "contextualizer.pt")


write_fixture(
    "bendr",
    model="bendr",
    X=X, sfreq=256.0, ch_names=names,
    features=features,
    checkpoint_name="release",
    save_checkpoint=save,
    estimator_kwargs={"filters": None, "pooling": "flatten", "model_kwargs": SIZE},
    source={"repository": "SPOClab-ca/BENDR (+ SPOClab-ca/dn3@4d477fe42d3d8ce64f3b790585bfa5c7acb84848)",
            "commit": ARGS.commit,
            "lines": "dn3_ext.py:88-94 (features_forward), :365-427 (ConvEncoderBENDR), :489-594 "
                     "(BENDRContextualizer); configs/pretraining.yml:45-46 (TUEG limits); dn3 "
                     "transforms/instance.py:339-373 (MappingDeep1010), :404-434 (To1020)",
            "generator": "tools/parity/make_bendr.py"},
)
