"""Training an EEG->MEG network with skorch: the loss comes from the network's mode.

As in the core (:mod:`eegfm_sklearn.estimators.training`), the skorch net
lives only inside ``fit``: the estimator keeps the trained module and the
history, never the net.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.callbacks import GradientNormClipping, LRScheduler
from skorch.utils import to_tensor


class PairedNet(NeuralNet):
    """A skorch net over ``X = {"eeg": ..., "meg": ...}`` whose loss is ``module.loss``.

    ``training_output(eeg, meg)`` lets a teacher-forced mode read the MEG
    it is trained to predict; ``criterion`` is not used.
    """

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        return self.module_.training_output(x["eeg"], x["meg"])

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.module_.loss(y_pred, to_tensor(X["meg"], device=self.device))


def train_network(network, eeg, meg, est):
    """Train ``network`` in place on standardised float32 windows with ``est``'s parameters.

    AdamW, cosine learning-rate decay to 0 over ``max_epochs``, gradient norm
    clipped at 1, shuffled batches. Call under
    :func:`eegfm_sklearn.seeding.seeded` (shuffling draws from torch's RNG).

    Returns
    -------
    history : skorch.History
    """
    net = PairedNet(
        module=network,
        criterion=torch.nn.Identity,  # unused: get_loss asks the network
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=est.weight_decay,
        lr=est.lr,
        max_epochs=est.max_epochs,
        batch_size=est.batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        callbacks=[
            ("clip", GradientNormClipping(gradient_clip_value=1.0)),
            ("cosine", LRScheduler("CosineAnnealingLR", T_max=max(1, est.max_epochs))),
        ],
        device=est.device,
        verbose=est.verbose,
    )
    net.fit({"eeg": eeg, "meg": meg}, None)
    return net.history
