"""Learnability ladder, rungs (a) and (b): the networks *without* a ridge-initialised path learn a linear map.

Real EEG (EEGMAT, 19 channels at 100 Hz, 1 s windows; train on one subject,
test on another) and a noiseless 20-channel target that is a fixed
instantaneous mix (a) or a 5-tap FIR mix (b) of it. Goals from issue 23:
continuous network without its linear skip R^2 >= 0.9 / 0.8, token mode
>= 0.7 / 0.6. The configurations are the small ones documented in
``docs/guide/eeg2meg.md`` (ladder); seeds 0-4 of the continuous network's rung (a) were
checked, and fewer of the others (numbers in the guide).
"""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from eegfm_sklearn.eeg2meg import EEGToMEGRegressor
from eegfm_sklearn.eeg2meg.ladder import LADDER_CONFIGS, ladder_data
from eegfm_sklearn.eeg2meg.metrics import channel_r2

from conftest import CPU_SHARE, require_data

GOALS = {("continuous", "instant"): 0.9, ("continuous", "fir"): 0.8, ("tokens", "instant"): 0.7, ("tokens", "fir"): 0.6}


@pytest.fixture(autouse=True)
def _two_threads():
    # two threads where the test has the 2-core box to itself; one per worker under `-n 2` (spinning
    # thread pools of two workers on two cores made a fit 10x slower)
    n = torch.get_num_threads()
    torch.set_num_threads(CPU_SHARE)
    with threadpool_limits(CPU_SHARE):
        yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def rungs():
    require_data("eegmat", "Subject00_1.edf")
    return {kind: ladder_data(kind, n_train=120, n_test=40) for kind in ("instant", "fir")}


@pytest.mark.slow
@pytest.mark.parametrize("mode, kind", list(GOALS))
def test_network_without_linear_skip_learns_the_mix(rungs, mode, kind):
    Xtr, Ytr, Xte, Yte = rungs[kind]
    est = EEGToMEGRegressor(**LADDER_CONFIGS[mode], random_state=0).fit(Xtr, Ytr)
    assert getattr(est.module_, "linear_skip", None) is None  # nothing starts from a ridge solution
    r2 = channel_r2(Yte, est.predict(Xte)).mean()
    assert r2 >= GOALS[mode, kind], (mode, kind, r2)
    losses = [h["train_loss"] for h in est.history_]
    assert losses[-1] < losses[0] and np.isfinite([h["grad_norm"] for h in est.history_]).all()
