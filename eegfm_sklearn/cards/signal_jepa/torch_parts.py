"""The torch side of the SignalJEPA cards (imported lazily, when a module is built)."""

from __future__ import annotations

from torch import nn


class MeanTokensHead(nn.Module):
    """Mean over the encoder's tokens, then a linear layer.

    braindecode's ``SignalJEPA`` (the pretraining encoder) ends in
    ``nn.Identity`` and returns its tokens; this head makes it a classifier.

    Parameters
    ----------
    dim : int
        Token size (the feature encoder's last width, 64).
    n_outputs : int
    """

    def __init__(self, dim, n_outputs):
        super().__init__()
        self.linear = nn.Linear(dim, n_outputs)

    def forward(self, tokens):
        """tokens (n, n_tokens, dim) -> (n, n_outputs)."""
        return self.linear(tokens.mean(dim=1))


def _keep_layers_on_the_module_path(module, args):
    # torch's fused encoder-layer path (eval mode, no grad) reads linear1/linear2's weights
    # directly, so adapters injected there (LoRA, IA3) would be skipped at inference. A
    # registered pre-hook is one of the conditions that turn that path off.
    return None


def _has_adapters(module):
    return any(type(m).__module__.startswith("peft.") for m in module.modules())


def _route_once_adapted(module, args):
    # Without adapters the fused path computes the same thing faster, so it is only
    # turned off once adapters are found (checked before each forward until then).
    if not module._eegfm_routed and _has_adapters(module):
        for layer in module.modules():
            if isinstance(layer, nn.TransformerEncoderLayer):
                layer.register_forward_pre_hook(_keep_layers_on_the_module_path)
        module._eegfm_routed = True


def route_encoder_layers_through_modules(module):
    """Make ``nn.TransformerEncoderLayer`` call its sublayers as modules once adapters are injected."""
    if not hasattr(module, "_eegfm_routed"):
        module._eegfm_routed = False
        module.register_forward_pre_hook(_route_once_adapted)
    return module


def add_mean_head(module):
    """``SignalJEPA`` with a mean-pooled linear head (idempotent)."""
    if isinstance(module.final_layer, nn.Identity):
        module.final_layer = MeanTokensHead(module.feature_encoder.emb_dim, module.n_outputs)
    return module


def encoder_only(module):
    """Drop the JEPA predictor (``transformer.decoder``: pretraining only, never called by
    ``forward``) and keep the encoder layers' sublayers on the module path (idempotent)."""
    if module.transformer is not None:
        module.transformer.decoder = None
    return route_encoder_layers_through_modules(module)


def tokens_of(module, x, **kwargs):
    """``{"tokens": (n, n_tokens, 64), "cls": None}``: what braindecode returns as features."""
    return {"tokens": module(x, return_features=True, **kwargs)["features"], "cls": None}


__all__ = ["MeanTokensHead", "add_mean_head", "encoder_only", "route_encoder_layers_through_modules", "tokens_of"]
