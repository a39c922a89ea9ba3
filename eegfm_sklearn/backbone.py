"""The torch side: a braindecode backbone built from a card, with its head.

``CardModule`` wraps the braindecode module so that skorch (and our own
inference loop) can call ``module(x)`` whatever the backbone needs besides
``x`` (LaBraM's ``ch_names``). It pickles through its state dict and a
rebuild recipe, which makes parametrized backbones (BENDR's weight norm)
picklable and joblib-safe.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class CardModule(nn.Module):
    """A card's braindecode backbone, returning logits or pooled features.

    Parameters
    ----------
    card : ModelCard
        The (effective) card the backbone was built from.
    build_args : dict
        ``n_chans``, ``n_times``, ``n_outputs`` and ``model_kwargs`` given to
        ``card.build_module``; enough to rebuild the module.
    slot_names : tuple of str, length n_chans
        Names of the channels the backbone receives, for cards that index
        embeddings by channel name.
    output : {"logits", "features"}
        Return the head's output (n, n_outputs) or the pooled embedding
        (n, n_features).
    backbone : nn.Module or None
        An already built module (else it is built, randomly initialised).
    """

    def __init__(self, card, build_args, slot_names, output="logits", backbone=None):
        super().__init__()
        self.card = card
        self.build_args = dict(build_args)
        self.slot_names = tuple(slot_names)
        self.output = output
        self.backbone = backbone if backbone is not None else card.build_module(**self.build_args)

    def forward(self, x):
        """Run the backbone on x of shape (n, n_chans, n_times)."""
        kwargs = {"ch_names": list(self.slot_names)} if self.card.passes_ch_names else {}
        if self.output == "features":
            return self.card.features(self.backbone(x, return_features=True, **kwargs))
        return self.backbone(x, **kwargs)

    def __reduce__(self):
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        return (_rebuild, (self.card, self.build_args, self.slot_names, self.output, state, self.training))


def _rebuild(card, build_args, slot_names, output, state, training):
    module = CardModule(card, build_args, slot_names, output)
    module.load_state_dict(state, strict=True)
    return module.train(training)


@torch.inference_mode()
def predict_batches(module, X, batch_size=64, device="cpu"):
    """Forward ``X`` through ``module`` in eval mode, batch by batch.

    Parameters
    ----------
    module : nn.Module
    X : ndarray of float32, shape (n_trials, n_chans, n_times)
    batch_size : int
    device : str or torch.device

    Returns
    -------
    out : ndarray of float32, shape (n_trials, n_outputs)
    """
    was_training = module.training
    module.eval()
    try:
        outs = [
            module(torch.from_numpy(X[i : i + batch_size]).to(device)).float().cpu().numpy()
            for i in range(0, len(X), batch_size)
        ]
    finally:
        module.train(was_training)
    return np.concatenate(outs, axis=0)
