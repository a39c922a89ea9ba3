"""braindecode's LUNA made the authors' network, with the ``return_features`` switch.

The authors build two MLPs with timm's ``Mlp(..., norm_layer=nn.LayerNorm)``: a LayerNorm
between the hidden activation and the output layer (pulp-bio/BioFoundation models/LUNA.py:138,
the cross-attention feed-forward, width ``4 x embed_dim``; :223, the channel-location
embedder, width ``2 x embed_dim``). braindecode 1.8.1's ``_Mlp`` has no norm, so the authors'
tensors ``cross_attn.ffn.norm.*`` and ``channel_location_embedder.0.norm.*`` had nowhere to
go (forcing the load without them changes the features by ~75 %). Here both MLPs get the
norm back (their linear layers stay braindecode's, as initialised), for loaded and for
random weights alike.

braindecode's ``LUNA.forward`` always ends in its head. The encoder output (the final norm's
output, one token per 40-sample patch, ``num_queries x embed_dim`` wide) is caught on its way
to the head.
"""

from __future__ import annotations

from braindecode.models import LUNA
from torch import nn


class NormMlp(nn.Module):
    """timm's ``Mlp`` with ``norm_layer=nn.LayerNorm``: fc1, act, drop, norm, fc2, drop."""

    def __init__(self, mlp):
        super().__init__()
        self.fc1, self.act, self.fc2, self.drop = mlp.fc1, mlp.act, mlp.fc2, mlp.drop
        self.norm = nn.LayerNorm(mlp.fc1.out_features)

    def forward(self, x):
        x = self.drop(self.act(self.fc1(x)))
        return self.drop(self.fc2(self.norm(x)))


class LUNAFeatures(LUNA):
    """The authors' ``LUNA``; ``forward(X, return_features=True)`` returns the encoder's tokens.

    Returns
    -------
    out : Tensor of shape (n, n_outputs), or with ``return_features=True`` a dict
        ``{"features": Tensor (n, n_patches, num_queries * embed_dim), "cls_token": None}``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_location_embedder = NormMlp(self.channel_location_embedder)
        self.cross_attn.ffn = NormMlp(self.cross_attn.ffn)

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
