"""What a fine-tuning mode trains, and at which learning rate.

Functions on a :class:`~eegfm_sklearn.backbone.CardModule`; every
per-model fact (where the blocks are, what the stem is, which layers take
adapters) comes from its card.

Each parameter gets a *layer id*: 0 for the stem (what runs before the
blocks), ``i + 1`` for block ``i``, and ``n_blocks + 1`` for the neck (final
norm, projections) and the head. Layer-wise learning-rate decay gives a
parameter of layer id ``l`` the rate ``lr * layer_decay ** (n_blocks + 1 - l)``:
the head trains at ``lr`` and each block below it ``layer_decay`` times
slower.
"""

from __future__ import annotations

import copy

METHODS = ("linear", "full", "partial", "lora")


# -- where a parameter sits ----------------------------------------------
def blocks(module):
    """The backbone's transformer blocks, in depth order (an ``nn.ModuleList``)."""
    card = module.card
    if card.block_path is None:
        raise ValueError(f"{card.name!r} declares no block_path; partial fine-tuning and layer_decay need it.")
    return module.backbone.get_submodule(card.block_path)


def is_head(module, name):
    """Whether CardModule parameter ``name`` belongs to the head in use."""
    if module.head is not None:
        return name.startswith("head.")
    return name.startswith(tuple("backbone." + p for p in module.card.head_prefixes))


def _is_unused_head(module, name):
    # braindecode's own head, bypassed by a pooling head.
    return module.head is not None and name.startswith(tuple("backbone." + p for p in module.card.head_prefixes))


def layer_id(module, name, n_blocks):
    """Layer id of CardModule parameter ``name`` (see the module docstring)."""
    card = module.card
    if not name.startswith("backbone.") or is_head(module, name):
        return n_blocks + 1
    rel = name[len("backbone."):]
    if card.block_path is not None and rel.startswith(card.block_path + "."):
        return int(rel[len(card.block_path) + 1:].split(".", 1)[0]) + 1
    if rel.startswith(tuple(card.stem_prefixes)):
        return 0
    return n_blocks + 1  # the neck


def layer_ids(module):
    """``{name: layer id}`` for every parameter of ``module``."""
    n = len(blocks(module)) if module.card.block_path is not None else 0
    return {name: layer_id(module, name, n) for name, _ in module.named_parameters()}


# -- what trains ----------------------------------------------------------
def set_trainable(module, method, n_unfrozen_blocks=None):
    """Freeze what ``method`` leaves untouched (in place); returns module.

    Parameters
    ----------
    module : CardModule
    method : {"linear", "full", "partial", "lora"}
        ``"linear"``: the head only. ``"full"``: everything. ``"partial"``:
        the last ``n_unfrozen_blocks`` blocks, the neck and the head.
        ``"lora"``: the head and the adapters (inject them first, see
        :func:`inject_adapters`).
    n_unfrozen_blocks : int or None
        Blocks trained by ``"partial"`` (0 to the number of blocks).
    """
    if method not in METHODS:
        raise ValueError(f"finetune must be one of {list(METHODS)}; got {method!r}.")
    if method == "lora" and module.peft_config is None:
        raise ValueError("finetune='lora' needs adapters: call inject_adapters first.")
    if method == "partial":
        n = len(blocks(module))
        if not isinstance(n_unfrozen_blocks, int) or not 0 <= n_unfrozen_blocks <= n:
            raise ValueError(f"{module.card.name!r} has {n} blocks here; n_unfrozen_blocks must be an int "
                             f"in [0, {n}]; got {n_unfrozen_blocks!r}.")
        ids = layer_ids(module)
    for name, p in module.named_parameters():
        if _is_unused_head(module, name):
            train = False
        elif method == "full":
            train = True
        elif method == "partial":
            train = ids[name] > n - n_unfrozen_blocks
        elif method == "lora":  # peft froze the base weights and left adapters trainable
            train = p.requires_grad or is_head(module, name)
        else:
            train = is_head(module, name)
        p.requires_grad_(train)
    return module


# -- adapters (peft) --------------------------------------------------------
def make_peft_config(card, peft_config=None, rank=8, alpha=None):
    """The peft config to inject, with the card's target modules filled in.

    Parameters
    ----------
    card : ModelCard
    peft_config : peft.PeftConfig or None
        Any peft tuner config (``LoraConfig``, ``LoraConfig(use_dora=True)``,
        ``IA3Config``...); copied, never changed. ``None``: LoRA of ``rank``.
    rank : int
        LoRA rank when ``peft_config`` is None.
    alpha : float or None
        LoRA scaling numerator when ``peft_config`` is None (``2 * rank`` if
        None).

    Returns
    -------
    config : peft.PeftConfig
    """
    import peft

    if peft_config is None:
        config = peft.LoraConfig(r=int(rank), lora_alpha=2 * rank if alpha is None else alpha)
    else:
        config = copy.deepcopy(peft_config)
    if not card.lora_targets and getattr(config, "target_modules", None) is None:
        raise ValueError(f"{card.name!r} declares no lora_targets; give peft_config.target_modules.")
    if getattr(config, "target_modules", None) is None:
        config.target_modules = list(card.lora_targets)
    if hasattr(config, "feedforward_modules") and config.feedforward_modules is None:
        targets = config.target_modules
        targets = [targets] if isinstance(targets, str) else targets
        config.feedforward_modules = [t for t in card.feedforward_targets if t in targets]
    return config


def inject_adapters(module, peft_config):
    """Add peft adapters to ``module.backbone`` in place; returns module.

    The braindecode module keeps its class; targeted layers become peft
    layers holding the frozen original (``base_layer``) and the adapter
    tensors (``lora_A``/``lora_B``...) as separate named parameters.
    """
    from peft import inject_adapter_in_model

    inject_adapter_in_model(peft_config, module.backbone)
    module.peft_config = peft_config
    return module


def merge_adapters(module):
    """Fold the adapters into the base weights and drop the peft layers.

    The backbone then has braindecode's own parameter names again.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, layer in list(module.backbone.named_modules()):
        if isinstance(layer, BaseTunerLayer):
            layer.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(module.backbone.get_submodule(parent_name), child, layer.get_base_layer())
    module.peft_config = None
    return module


# -- optimiser ----------------------------------------------------------------
def param_groups(module, lr, weight_decay=0.0, layer_decay=None):
    """Optimiser parameter groups of the trainable parameters.

    Parameters
    ----------
    module : CardModule
    lr : float
        Learning rate of the head (and of everything without decay).
    weight_decay : float
        Applied to weight matrices and kernels; biases, norms and other
        1-D parameters get none.
    layer_decay : float or None
        Layer-wise learning-rate decay in (0, 1]: a parameter of layer id
        ``l`` gets ``lr * layer_decay ** (n_blocks + 1 - l)``. ``None``: one
        rate for all.

    Returns
    -------
    groups : list of dict
        ``params``, ``names``, ``lr``, ``weight_decay`` and ``layer_id``
        per group (one group per layer id and decay setting).
    """
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1] or None; got {layer_decay!r}.")
    if layer_decay is not None:
        blocks(module)  # a clear error for cards without blocks
    ids = layer_ids(module)
    top = max(ids.values())
    groups = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        lid = ids[name]
        decay = weight_decay if p.ndim > 1 else 0.0
        scale = 1.0 if layer_decay is None else layer_decay ** (top - lid)
        group = groups.setdefault((lid, decay), {"params": [], "names": [], "lr": lr * scale,
                                                 "weight_decay": decay, "layer_id": lid})
        group["params"].append(p)
        group["names"].append(name)
    if not groups:
        raise ValueError("Nothing to train: every parameter is frozen.")
    return [groups[k] for k in sorted(groups)]


def count_trainable(module):
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
