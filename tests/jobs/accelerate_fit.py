"""Fine-tune under accelerate and save predictions (run by tests/test_accelerate.py).

Usage: [accelerate launch --multi_gpu --num_processes N] accelerate_fit.py OUT.npz

``--multi_gpu`` is accelerate's torchrun launcher; on a machine without GPUs
the processes train on CPU and all-reduce through gloo (``device="cpu"``).
(``--cpu`` would pick accelerate's single-process launcher, which needs
mpirun for several CPU processes.)
"""

import os
import sys

import numpy as np
import torch
from accelerate import PartialState

from eegfm_sklearn import FoundationClassifier, get_model_card
from eegfm_sklearn.datasets import load_eegmat

torch.set_num_threads(1)
data = load_eegmat(range(2), window_seconds=4.0, download=False)
no_dropout = {"drop_prob": 0.0, "att_drop_prob": 0.0, "att_layer_drop_prob": 0.0}
clf = FoundationClassifier(
    "biot", sfreq=data.sfreq, ch_names=data.ch_names, random_state=0, max_epochs=2, batch_size=16, lr=1e-3,
    model_kwargs={**get_model_card("biot").tiny_kwargs, **no_dropout}, accelerate=True,
)
clf.fit(data.X, data.y)
proba = clf.predict_proba(data.X)
# every process saves its own predictions (OUT.npz from rank 0, OUT.rank<N>.npz from the others)
rank = int(os.environ.get("RANK", "0"))
out = sys.argv[1] if rank == 0 else sys.argv[1].replace(".npz", f".rank{rank}.npz")
np.savez(out, proba=proba, num_processes=PartialState().num_processes)
