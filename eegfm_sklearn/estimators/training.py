"""Fine-tuning through skorch: one net built inside ``fit``, then dropped.

The trained weights live in the estimator's ``module_``; the net's history
is kept as ``history_``. Keeping no skorch net on the estimator keeps
``clone``/pickle simple and avoids skorch writing shapes back into params.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.callbacks import ProgressBar

from .base import COMMON_PARAMS_DOC, FoundationEstimatorBase, seeded

FINETUNE_PARAMS_DOC = COMMON_PARAMS_DOC + """
    keep_head : bool, default=False
        Keep the checkpoint's own head (its output size must match the
        task); by default the head is freshly initialised.
    max_epochs : int, default=10
        Passes over the training windows.
    lr : float, default=1e-4
        AdamW learning rate.
    weight_decay : float, default=0.01
        AdamW weight decay.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (e.g. ``LRScheduler``, ``EarlyStopping``).
"""


class FineTunedEstimatorBase(FoundationEstimatorBase):
    """A backbone with a head, trained end to end on the user's targets."""

    def __init__(self, model="labram", weights=None, cache_dir=None, sfreq=None, ch_names=None, units="uV",
                 montage=None, missing_channels="interpolate", window_policy="crop", model_kwargs=None,
                 batch_size=64, device="cpu", random_state=None, verbose=0,
                 keep_head=False, max_epochs=10, lr=1e-4, weight_decay=0.01, callbacks=None):
        super().__init__(model=model, weights=weights, cache_dir=cache_dir, sfreq=sfreq, ch_names=ch_names, units=units,
                         montage=montage, missing_channels=missing_channels, window_policy=window_policy,
                         model_kwargs=model_kwargs, batch_size=batch_size, device=device,
                         random_state=random_state, verbose=verbose)
        self.keep_head = keep_head
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.callbacks = callbacks

    @property
    def _keep_head(self):
        return self.keep_head

    def _train(self, X, y_train, n_outputs, criterion):
        """Adapt X, build the backbone with an ``n_outputs`` head and train it."""
        if len(y_train) != len(X):
            raise ValueError(f"X has {len(X)} windows but y has {len(y_train)} targets.")
        Xt = self._fit_backbone(X, n_outputs=n_outputs, output="logits")
        callbacks = list(self.callbacks or [])
        if self.verbose:
            callbacks.append(ProgressBar())
        with seeded(self.random_state):
            net = NeuralNet(
                module=self.module_,
                criterion=criterion,
                optimizer=torch.optim.AdamW,
                lr=self.lr,
                optimizer__weight_decay=self.weight_decay,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                train_split=None,
                iterator_train__shuffle=True,
                device=self.device,
                callbacks=callbacks or None,
                verbose=int(self.verbose),
            )
            net.fit(Xt, y_train)
        self.history_ = net.history
        self.module_.eval()
        return self
