"""Training an EEG->MEG network with skorch: the loss comes from the network's mode.

As in the core (:mod:`eegfm_sklearn.estimators.training`), the skorch net
lives only inside ``fit``: the estimator keeps the trained module and the
history, never the net. The core's pieces are reused: its net's plain log
(no colour codes in log files) and its stop on a non-finite loss. The history
records, per epoch, ``train_loss`` and ``grad_norm`` (mean gradient norm
before clipping), and ``valid_loss`` with early stopping: what to read when a
network does not learn or over-fits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from skorch.utils import to_tensor

from ..estimators._net import Net as _Net
from ..estimators._net import StopOnNonFiniteLoss


class PairedNet(_Net):
    """A skorch net over ``X = {"eeg": ..., "meg": ...}`` whose loss is ``module.loss``.

    ``training_output(eeg, meg)`` lets a teacher-forced mode read the MEG
    it is trained to predict; ``criterion`` is not used.
    """

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        return self.module_.training_output(x["eeg"], x["meg"])

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.module_.loss(y_pred, to_tensor(X["meg"], device=self.device))


class ClipAndRecordGradNorm(Callback):
    """Clip the gradient norm at ``max_norm`` and record the epoch's mean norm (before clipping) as ``grad_norm``."""

    def __init__(self, max_norm=1.0):
        self.max_norm = max_norm

    def on_epoch_begin(self, net, **kwargs):
        self._norms = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        params = [p for _, p in named_parameters]
        self._norms.append(float(torch.nn.utils.clip_grad_norm_(params, self.max_norm)))

    def on_epoch_end(self, net, **kwargs):
        net.history.record("grad_norm", float(np.mean(self._norms)) if self._norms else float("nan"))


def validation_split(n_windows, fraction):
    """Training and validation index ranges: the validation block is the last ``ceil(fraction * n)`` windows.

    A contiguous block, not a random draw: paired windows are usually cut
    consecutively from recordings, and neighbours share slow activity, so a
    random split would validate on near-copies of training windows (the
    same choice as Keras' ``validation_split``).

    Returns
    -------
    train, valid : slice
    """
    n_valid = math.ceil(fraction * n_windows)
    if n_valid < 1 or n_windows - n_valid < 1:
        raise ValueError(
            f"early_stopping with validation_fraction={fraction:g} leaves {n_windows - n_valid} training and "
            f"{n_valid} validation windows of {n_windows}: pass more windows or change validation_fraction."
        )
    return slice(0, n_windows - n_valid), slice(n_windows - n_valid, n_windows)


def train_network(network, eeg, meg, est):
    """Train ``network`` in place on standardised float32 windows with ``est``'s parameters.

    AdamW, cosine learning-rate decay to 0 over ``max_epochs``, gradient norm
    clipped at 1, shuffled batches; a non-finite loss stops training with an
    error saying what to change. Call under
    :func:`eegfm_sklearn.seeding.seeded` (shuffling draws from torch's RNG).
    With ``est.early_stopping``, the last ``validation_fraction`` of the
    windows (:func:`validation_split`) are not trained on: their loss is
    recorded per epoch, training stops after ``n_iter_no_change`` epochs
    without a lower one, and the network ends with the weights of the
    epoch whose validation loss was lowest.

    Returns
    -------
    history : skorch.History
        Per epoch: ``train_loss``, ``grad_norm``, ``dur`` (and ``valid_loss``).
    """
    callbacks = [
        ("clip", ClipAndRecordGradNorm(1.0)),
        ("finite_loss", StopOnNonFiniteLoss(est.lr)),
        ("cosine", LRScheduler("CosineAnnealingLR", T_max=max(1, est.max_epochs))),
    ]
    train_split = None
    if est.early_stopping:
        fit_part, valid_part = validation_split(len(eeg), est.validation_fraction)
        train_split = predefined_split(Dataset({"eeg": eeg[valid_part], "meg": meg[valid_part]}, None))
        eeg, meg = eeg[fit_part], meg[fit_part]
        callbacks.append(("early_stopping", EarlyStopping(monitor="valid_loss", patience=est.n_iter_no_change,
                                                          threshold=0.0, load_best=True,
                                                          sink=lambda *a, **k: None)))
    net = PairedNet(
        module=network,
        criterion=torch.nn.Identity,  # unused: get_loss asks the network
        optimizer=torch.optim.AdamW,
        param_groups=[{"params": list(network.parameters()), "weight_decay": est.weight_decay}],
        lr=est.lr,
        max_epochs=est.max_epochs,
        batch_size=est.batch_size,
        iterator_train__shuffle=True,
        train_split=train_split,
        callbacks=callbacks,
        device=est.device,
        verbose=est.verbose,
    )
    net.fit({"eeg": eeg, "meg": meg}, None)
    return net.history
