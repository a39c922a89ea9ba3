"""Training an EEG->MEG network with skorch: the loss comes from the network's mode.

As in the core (:mod:`eegfm_sklearn.estimators.training`), the skorch net
lives only inside ``fit``: the estimator keeps the trained module and the
history, never the net. The core's pieces are reused: its net's plain log
(no colour codes in log files) and its stop on a non-finite loss. The history
records, per epoch, ``train_loss`` and ``grad_norm`` (mean gradient norm
before clipping): what to read when a network does not learn.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
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


def train_network(network, eeg, meg, est):
    """Train ``network`` in place on standardised float32 windows with ``est``'s parameters.

    AdamW, cosine learning-rate decay to 0 over ``max_epochs``, gradient norm
    clipped at 1, shuffled batches; a non-finite loss stops training with an
    error saying what to change. Call under
    :func:`eegfm_sklearn.seeding.seeded` (shuffling draws from torch's RNG).

    Returns
    -------
    history : skorch.History
        Per epoch: ``train_loss``, ``grad_norm``, ``dur``.
    """
    net = PairedNet(
        module=network,
        criterion=torch.nn.Identity,  # unused: get_loss asks the network
        optimizer=torch.optim.AdamW,
        param_groups=[{"params": list(network.parameters()), "weight_decay": est.weight_decay}],
        lr=est.lr,
        max_epochs=est.max_epochs,
        batch_size=est.batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        callbacks=[
            ("clip", ClipAndRecordGradNorm(1.0)),
            ("finite_loss", StopOnNonFiniteLoss(est.lr)),
            ("cosine", LRScheduler("CosineAnnealingLR", T_max=max(1, est.max_epochs))),
        ],
        device=est.device,
        verbose=est.verbose,
    )
    net.fit({"eeg": eeg, "meg": meg}, None)
    return net.history
