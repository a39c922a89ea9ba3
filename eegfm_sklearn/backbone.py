"""The torch side: a braindecode backbone built from a card, with its head.

``CardModule`` wraps the braindecode module so that skorch (and our own
inference loop) can call ``module(x)`` whatever the backbone needs besides
``x`` (the card's ``forward_kwargs``, e.g. LaBraM's ``ch_names``). It pickles through its state dict and a
rebuild recipe, which makes parametrized backbones (BENDR's weight norm)
picklable and joblib-safe.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .utils._warn import dependency_notices_filtered
from .utils.seeding import rng_lock, rng_untouched

POOLINGS = ("cls", "mean", "flatten", "attentive")


def resolve_pooling(card, pooling):
    """The pooling to use: ``None`` means the card's default.

    Raises
    ------
    ValueError
        If the card does not support ``pooling``; the message names the
        poolings it does support.
    """
    if pooling is None:
        return card.default_pooling
    if pooling not in card.poolings:
        raise ValueError(f"{card.name!r} supports pooling in {list(card.poolings)}; got {pooling!r}.")
    return pooling


class PoolingHead(nn.Module):
    """Pool a backbone's tokens, then a linear layer.

    Parameters
    ----------
    kind : {"cls", "mean", "flatten", "attentive"}
        ``"cls"``: the CLS/start token; ``"mean"``: mean over tokens;
        ``"flatten"``: all tokens concatenated (size depends on the window
        length); ``"attentive"``: softmax-weighted mean, each token scored
        by a learned linear query.
    dim : int
        Token size.
    n_tokens : int
        Tokens per window (for ``"flatten"``).
    n_outputs : int
        Size of the output.
    """

    def __init__(self, kind, dim, n_tokens, n_outputs):
        super().__init__()
        self.kind = kind
        self.score = nn.Linear(dim, 1) if kind == "attentive" else None
        self.fc = nn.Linear(dim * n_tokens if kind == "flatten" else dim, n_outputs)

    def pool(self, out):
        """Pool ``{"tokens": (n, n_tokens, dim), "cls": (n, dim)}`` to (n, n_features)."""
        if self.kind == "cls":
            return out["cls"]
        tokens = out["tokens"]
        if self.kind == "mean":
            return tokens.mean(dim=1)
        if self.kind == "flatten":
            return tokens.flatten(1)
        weights = torch.softmax(self.score(tokens), dim=1)  # (n, n_tokens, 1)
        return (weights * tokens).sum(dim=1)

    def forward(self, out):
        return self.fc(self.pool(out))


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
    slot_positions : ndarray of shape (n_chans, 3) or None
        Head-frame positions of those channels (m), for cards that use them
        (``card.uses_positions``).
    output : {"logits", "features"}
        Return the head's output (n, n_outputs) or the pooled embedding
        (n, n_features).
    backbone : nn.Module or None
        An already built module (else it is built, randomly initialised).
    pooling : str or None
        ``None`` or the card's ``default_pooling``: braindecode's own head.
        Another of the card's ``poolings``: a :class:`PoolingHead` on the
        backbone's tokens (``head``); braindecode's head is then unused and
        frozen.
    peft_config : peft.PeftConfig or None
        Adapters injected into the backbone (with target modules filled in),
        kept so the module can be rebuilt when unpickled.
    split_pooling : {"mean", "max", "concat"}, default="mean"
        How the outputs of a trial's sub-windows become one row
        (``window_policy="split"``): :meth:`pool_trials`, in training and at
        inference alike.

    Notes
    -----
    Submodules whose parameters are all frozen run in eval mode even while
    training (no dropout, no running-statistics updates), so a frozen part
    computes exactly what it would at inference.
    """

    def __init__(self, card, build_args, slot_names, output="logits", backbone=None, pooling=None,
                 peft_config=None, slot_positions=None, split_pooling="mean"):
        super().__init__()
        self.card = card
        self.split_pooling = split_pooling
        self.build_args = dict(build_args)
        self.slot_names = tuple(slot_names)
        self.slot_positions = None if slot_positions is None else np.asarray(slot_positions, dtype=float)
        self.output = output
        with rng_lock():  # initialisation draws from torch's RNG: never inside another thread's seeded fit
            if backbone is None:
                backbone = card.build_module(**self.build_args, slots=self.slot_names, positions=self.slot_positions)
            self.backbone = backbone
            self.head = None
            self.pooling = None
            self.peft_config = None
            self.set_pooling(pooling)
            if peft_config is not None:
                from .finetune import inject_adapters

                inject_adapters(self, peft_config)

    def _forward_kwargs(self):
        return self.card.forward_kwargs_for(self.slot_names, self.slot_positions)

    def set_pooling(self, pooling):
        """Use ``pooling`` (see the class parameters); returns self."""
        kind = resolve_pooling(self.card, pooling)
        if kind == self.card.default_pooling:
            self.pooling, self.head = None, None
            return self
        if self.card.tokens is None:
            raise ValueError(f"{self.card.name!r} exposes no tokens; only pooling={self.card.default_pooling!r}.")
        with torch.no_grad():
            was_training = self.backbone.training
            param = next(self.backbone.parameters())
            dummy = torch.zeros(1, self.build_args["n_chans"], self.build_args["n_times"],
                                dtype=param.dtype, device=param.device)
            tokens = self.card.tokens(self.backbone.eval(), dummy, **self._forward_kwargs())["tokens"]
            self.backbone.train(was_training)
        _, n_tokens, dim = tokens.shape
        with rng_lock():
            self.head = PoolingHead(kind, dim, n_tokens, self.build_args["n_outputs"]).to(param.device)
        self.pooling = kind
        for name, p in self.backbone.named_parameters():  # braindecode's head is unused now
            if name.startswith(tuple(self.card.head_prefixes)):
                p.requires_grad_(False)
        return self

    def pool_trials(self, out, n_sub):
        """One row per trial from the rows of its ``n_sub`` consecutive sub-windows.

        Parameters
        ----------
        out : Tensor or ndarray, shape (n_trials * n_sub, n_features)
        n_sub : int

        Returns
        -------
        pooled : same type, shape (n_trials, n_features) (``n_sub * n_features`` for "concat")
        """
        from .preprocessing.windowing import pool_subwindows

        return pool_subwindows(out, n_sub, self.split_pooling)

    def forward(self, x):
        """Run the backbone on x of shape (n, n_chans, n_times).

        x of shape (n, n_sub, n_chans, n_times) (trials split into
        sub-windows, ``window_policy="split"``) runs the sub-windows and
        pools their outputs per trial (``split_pooling``): one row per trial,
        so a training loss sees one prediction per trial.
        """
        if x.ndim == 4:
            return self.pool_trials(self.forward(x.flatten(0, 1)), x.shape[1])
        kwargs = self._forward_kwargs()
        if self.head is not None:
            out = self.card.tokens(self.backbone, x, **kwargs)
            return self.head.pool(out) if self.output == "features" else self.head(out)
        if self.output == "features":
            return self.card.extract_features(self.backbone, x, **kwargs)
        return self.backbone(x, **kwargs)

    def train(self, mode=True):
        super().train(mode)
        if mode:
            for module in _frozen_subtrees(self):
                module.eval()
        return self

    def __reduce__(self):
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        frozen = tuple(n for n, p in self.named_parameters() if not p.requires_grad)
        return (_rebuild, (self.card, self.build_args, self.slot_names, self.output, state, self.training,
                           self.pooling, self.peft_config, frozen, self.slot_positions, self.split_pooling))


def _frozen_subtrees(module):
    """Outermost submodules that hold parameters, all of them frozen.

    skorch sets the training mode before every batch: one pass over the tree (listing each
    subtree's parameters at every level cost 1-2.5 ms a batch), none when nothing is frozen.
    """
    if all(p.requires_grad for p in module.parameters()):
        return []
    return _walk_frozen(module)[2]


def _walk_frozen(module):
    """(holds parameters, all of them frozen, outermost frozen subtrees) of ``module``."""
    own = [p for p in module._parameters.values() if p is not None]
    kids = [_walk_frozen(child) for child in module.children()]
    has = bool(own) or any(k[0] for k in kids)
    frozen = not any(p.requires_grad for p in own) and all(k[1] for k in kids if k[0])
    if has and frozen:
        return True, True, [module]
    return has, frozen, [m for k in kids for m in k[2]]


def _rebuild(card, build_args, slot_names, output, state, training, pooling=None, peft_config=None, frozen=(),
             slot_positions=None, split_pooling="mean"):
    # a copy or unpickling rebuilds the module: no notices again, and its initial draws (overwritten by
    # the state loaded next) leave the caller's torch RNG where it was
    with dependency_notices_filtered(card.quiet_warnings), rng_untouched():
        module = CardModule(card, build_args, slot_names, output, pooling=pooling, peft_config=peft_config,
                            slot_positions=slot_positions, split_pooling=split_pooling)
    module.load_state_dict(state, strict=True)
    frozen = set(frozen)
    for name, p in module.named_parameters():
        p.requires_grad_(name not in frozen)
    return module.train(training)


PRECISIONS = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device, precision):
    """Autocast context for ``precision`` (None: full float32)."""
    if precision is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=PRECISIONS[precision])


@torch.inference_mode()
def predict_batches(module, X, batch_size=64, device="cpu", precision=None):
    """Forward ``X`` through ``module`` in eval mode, batch by batch.

    Parameters
    ----------
    module : nn.Module
    X : ndarray of float32, shape (n_trials, n_chans, n_times)
    batch_size : int
    device : str or torch.device
    precision : {None, "bf16", "fp16"}
        Autocast dtype; outputs are returned as float32 either way.

    Returns
    -------
    out : ndarray of float32, shape (n_trials, n_outputs)
    """
    device = torch.device(device)
    pinned = device.type == "cuda"  # page-locked host memory makes the copy asynchronous
    # A fitted module is already in eval mode; switching walks every submodule, so only do it when needed.
    was_training = module.training
    if was_training:
        module.eval()
    outs = []
    try:
        with autocast(device, precision):
            for i in range(0, len(X), batch_size):
                batch = torch.from_numpy(X[i : i + batch_size])
                batch = batch.pin_memory().to(device, non_blocking=True) if pinned else batch.to(device)
                outs.append(module(batch).float().cpu().numpy())
    finally:
        if was_training:
            module.train()
    return np.concatenate(outs, axis=0)
