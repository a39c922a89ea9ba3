"""braindecode's LUNA, with the ``return_features`` switch the other backbones have.

braindecode's ``LUNA.forward`` always ends in its head. The encoder output
(the final norm's output, one token per 40-sample patch, ``num_queries x
embed_dim`` wide) is caught on its way to the head; the weights and every
computation are braindecode's own.
"""

from __future__ import annotations

from braindecode.models import LUNA


class LUNAFeatures(LUNA):
    """``LUNA`` whose ``forward(X, return_features=True)`` returns the encoder's tokens.

    Returns
    -------
    out : Tensor of shape (n, n_outputs), or with ``return_features=True`` a dict
        ``{"features": Tensor (n, n_patches, num_queries * embed_dim), "cls_token": None}``.
    """

    def forward(self, X, *args, return_features=False, **kwargs):
        if not return_features:
            return super().forward(X, *args, **kwargs)
        caught = []
        handle = self.norm.register_forward_hook(lambda module, inputs, output: caught.append(output))
        try:
            super().forward(X, *args, **kwargs)
        finally:
            handle.remove()
        return {"features": caught[0], "cls_token": None}
