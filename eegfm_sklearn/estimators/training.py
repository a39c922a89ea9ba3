"""Fine-tuning through skorch: one net built inside ``fit``, then dropped.

The trained weights live in the estimator's ``module_``; the net's history
is kept as ``history_``. Keeping no skorch net on the estimator keeps
``clone``/pickle simple and avoids skorch writing shapes back into params.
What trains and at which rate is decided in :mod:`eegfm_sklearn.finetune`;
this module turns the estimator's params into skorch callbacks.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import finetune as ft
from ..backbone import resolve_pooling
from ..cards import get_model_card
from ..utils._warn import dependency_notices_filtered
from ..utils.progress import show_progress
from . import params
from .base import COMMON_PARAMS_DOC, FILTERS_PARAM_DOC, FoundationEstimatorBase, seeded

FINETUNE_PARAMS_DOC = COMMON_PARAMS_DOC + """
    keep_head : bool, default=False
        Keep the checkpoint's own head (its output size must match the
        task, and ``pooling`` must be the card's default); by default the
        head is freshly initialised.
    max_epochs : int, default=10
        Passes over the training windows.
    lr : float, default=1e-4
        AdamW learning rate (of the head, with ``layer_decay``).
    weight_decay : float, default=0.01
        AdamW weight decay of weight matrices and kernels; biases, norms
        and other 1-D parameters are not decayed.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks.
    finetune : {"full", "linear", "partial", "lora"}, default="full"
        What trains. ``"linear"``: the head only, on a frozen backbone (a
        linear probe trained end to end). ``"full"``: everything.
        ``"partial"``: the last ``n_unfrozen_blocks`` transformer blocks,
        the layers after them and the head. ``"lora"``: low-rank adapters
        (peft) in the layers the card names, and the head; base weights
        stay frozen. Frozen parts run in eval mode (no dropout).
    n_unfrozen_blocks : int, default=1
        Blocks trained by ``finetune="partial"``.
    pooling : str or None, default=None
        How tokens become one vector for the head: ``"cls"`` (CLS/start
        token), ``"mean"``, ``"flatten"`` or ``"attentive"`` (learned
        attention weights), among those the card supports. ``None``: the
        card's default, through braindecode's own head.
    layer_decay : float or None, default=None
        Layer-wise learning-rate decay in (0, 1]: block ``i`` of ``L``
        trains at ``lr * layer_decay ** (L - i)``, the stem at
        ``lr * layer_decay ** (L + 1)``, the head and final norm at ``lr``.
        Meant for ``"full"`` and ``"partial"``.
    lora_rank : int, default=8
        Rank of the LoRA adapters (``finetune="lora"``, no ``peft_config``).
    lora_alpha : float or None, default=None
        LoRA scaling numerator (``2 * lora_rank`` if None).
    peft_config : peft.PeftConfig or None, default=None
        Any peft adapter config for ``finetune="lora"``: ``LoraConfig``
        (``use_dora=True`` for DoRA), ``IA3Config``, ``LoHaConfig``...
        ``target_modules`` (and IA3's ``feedforward_modules``) left unset
        are filled from the card. Never modified.
    merge_lora : bool, default=False
        After training, fold the adapters into the base weights so
        ``backbone_`` has braindecode's own parameter names. By default
        the adapters stay separate (``lora_A``/``lora_B`` parameters) and
        the base weights are left untouched.
    lr_schedule : {"constant", "cosine"}, default="constant"
        Learning rate after warmup: constant, or cosine decay to 0 at the
        last step.
    warmup_epochs : float, default=0
        Epochs of linear warmup from 0 to the learning rate.
    max_grad_norm : float or None, default=None
        Clip the gradient's global L2 norm to this value.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the windows (stratified for
        classifiers; not grouped by subject), stop after
        ``n_iter_no_change`` epochs without a lower validation loss and
        restore the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of windows held out when ``early_stopping``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    class_weight : dict, "balanced" or None, default=None
        Classifiers only: weights of the cross-entropy per class (keys are
        the original labels), or ``"balanced"`` for inverse frequencies.
    accelerate : bool, default=False
        Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
        run the script with ``accelerate launch --multi_gpu --num_processes N``
        for several GPUs, nodes or (on a machine without GPUs, with
        ``device="cpu"``) CPU processes; the global batch stays ``batch_size``.
""" + FILTERS_PARAM_DOC



def check_targets(est, X, y, column_to_1d=True):
    """``y`` as an array, refusing None and empty targets; a column vector is raveled (with a warning).

    Parameters
    ----------
    est : estimator
        Named in the messages.
    X : array-like or mne object
        Its length is named in the messages.
    y : array-like or None
    column_to_1d : bool
        Ravel ``y`` of shape (n, 1), as scikit-learn classifiers do.
    """
    name = type(est).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None: pass one target per window.")
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError(f"y must be an array with one target per window; got the scalar {y!r}.")
    if y.shape[0] == 0:
        try:
            n = f"X has {len(X)} windows"
        except TypeError:
            n = "X has windows"
        raise ValueError(f"y is empty (shape {y.shape}) but {n}; pass one target per window.")
    if column_to_1d and y.ndim == 2 and y.shape[1] == 1:
        from sklearn.utils.validation import column_or_1d

        y = column_or_1d(y, warn=True)  # scikit-learn's DataConversionWarning, then raveled
    return y


def warmup_cosine(warmup_steps, total_steps, schedule="cosine"):
    """Multiplier of the learning rate at each optimiser step.

    Linear warmup over ``warmup_steps``, then constant or a cosine decay
    reaching 0 at ``total_steps``.
    """
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class FineTunedEstimatorBase(FoundationEstimatorBase):
    """A backbone with a head, trained end to end on the user's targets."""

    _parameter_constraints: dict = params.FINETUNE

    def __init__(self, model, *, weights=None, cache_dir=None, sfreq=None, ch_names=None, units="uV",
                 montage=None, missing_channels="interpolate", window_policy="crop", model_kwargs=None,
                 batch_size=64, device="cpu", precision=None, compile=False, random_state=None, verbose=0,
                 pad_mode="constant", max_window_seconds=None, split_overlap=0.0, split_pooling="mean",
                 keep_head=False, max_epochs=10, lr=1e-4, weight_decay=0.01, callbacks=None,
                 finetune="full", n_unfrozen_blocks=1, pooling=None, layer_decay=None, lora_rank=8,
                 lora_alpha=None, peft_config=None, merge_lora=False, lr_schedule="constant",
                 warmup_epochs=0, max_grad_norm=None, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, class_weight=None, accelerate=False, filters="card", n_threads=None):
        super().__init__(model, weights=weights, cache_dir=cache_dir, sfreq=sfreq, ch_names=ch_names, units=units,
                         montage=montage, missing_channels=missing_channels, window_policy=window_policy,
                         model_kwargs=model_kwargs, batch_size=batch_size, device=device,
                         precision=precision, compile=compile, random_state=random_state, verbose=verbose,
                         pad_mode=pad_mode, max_window_seconds=max_window_seconds, split_overlap=split_overlap,
                         split_pooling=split_pooling, filters=filters, n_threads=n_threads)
        self.keep_head = keep_head
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.callbacks = callbacks
        self.finetune = finetune
        self.n_unfrozen_blocks = n_unfrozen_blocks
        self.pooling = pooling
        self.layer_decay = layer_decay
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.peft_config = peft_config
        self.merge_lora = merge_lora
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.accelerate = accelerate

    @property
    def _keep_head(self):
        return self.keep_head

    # -- checks before any heavy work ---------------------------------------
    def _check_finetune_params(self, classifier):
        """Checks across params (each param alone is checked by ``_parameter_constraints``)."""
        if self.peft_config is not None and self.finetune != "lora":
            raise ValueError(f"peft_config is used with finetune='lora'; got finetune={self.finetune!r}.")
        if self.merge_lora and self.finetune != "lora":
            raise ValueError(f"merge_lora=True needs finetune='lora'; got finetune={self.finetune!r}.")
        if self.split_pooling == "concat":
            raise ValueError("split_pooling='concat' is for FoundationTransformer (its width depends on the "
                             "trial length); fine-tuning pools the sub-windows' head outputs with 'mean' or 'max'.")
        if self.class_weight is not None and not classifier:
            raise ValueError("class_weight applies to classifiers only.")
        card = get_model_card(self.model)
        pooling = resolve_pooling(card, self.pooling)
        if self.keep_head and pooling != card.default_pooling:
            raise ValueError(f"keep_head=True keeps braindecode's head, which reads pooling="
                             f"{card.default_pooling!r}; got pooling={self.pooling!r}.")

    # -- fit-time pieces -------------------------------------------------------
    def _prepare_module(self):
        """Pooling head, adapters and frozen parts, as the params ask."""
        module = self.module_
        module.set_pooling(self.pooling)
        if self.finetune == "lora":
            config = ft.make_peft_config(self.card_, self.peft_config, self.lora_rank, self.lora_alpha)
            ft.inject_adapters(module, config)
        ft.set_trainable(module, self.finetune, self.n_unfrozen_blocks)
        module.to(self.device)

    def _criterion_kwargs(self, y_train):
        if self.class_weight is None:
            return {}
        from sklearn.utils.class_weight import compute_class_weight

        codes = np.arange(len(self.classes_))
        weights = self.class_weight
        if isinstance(weights, dict):
            unknown = set(weights) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names unknown classes {sorted(map(str, unknown))}; "
                                 f"classes are {self.classes_.tolist()}.")
            weights = {i: weights.get(c, 1.0) for i, c in enumerate(self.classes_.tolist())}
        w = compute_class_weight(weights, classes=codes, y=y_train)
        return {"criterion__weight": torch.as_tensor(w, dtype=torch.float32)}

    def _callbacks(self, n_windows):
        from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler, ProgressBar

        from ._net import StopOnNonFiniteLoss

        callbacks = list(self.callbacks or [])
        callbacks.append(("finite_loss", StopOnNonFiniteLoss(self.lr)))
        n_train = n_windows - math.ceil(self.validation_fraction * n_windows) if self.early_stopping else n_windows
        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))
        warmup = int(round(self.warmup_epochs * steps_per_epoch))
        if warmup or self.lr_schedule != "constant":
            factor = warmup_cosine(warmup, self.max_epochs * steps_per_epoch, self.lr_schedule)
            callbacks.append(("lr_schedule", LRScheduler(torch.optim.lr_scheduler.LambdaLR, lr_lambda=factor,
                                                         step_every="batch")))
        if self.max_grad_norm is not None:
            callbacks.append(("grad_clip", GradientNormClipping(gradient_clip_value=self.max_grad_norm)))
        if self.early_stopping:
            callbacks.append(("early_stopping", EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change,
                                                              load_best=True)))
        if show_progress(self.verbose):  # batches within each epoch; the epoch lines come from PrintLog
            callbacks.append(ProgressBar())
        return callbacks

    def _training_data(self, X):
        """What skorch iterates over, and the module it trains on it.

        Whole windows: the adapted windows and ``module_``. Split trials: the trials' indices and a
        wrapper that cuts, adapts and forwards their sub-windows ``batch_size`` at a time (bounded
        memory, whatever the overlap; see :mod:`.split_training`).
        """
        if self.adapter_.n_sub_ == 1:
            with self._threads():
                return self.adapter_.transform(X), self.module_
        from .split_training import SplitTrialsModule, prefilter

        with self._threads():
            filtered = prefilter(self.adapter_, X)
        source = X if filtered is None else filtered
        return np.arange(len(X)), SplitTrialsModule(self.module_, self.adapter_, source, max(int(self.batch_size), 1),
                                                    prefiltered=filtered is not None)

    def _train(self, X, y_train, n_outputs, criterion):
        """Adapt X, build the backbone with an ``n_outputs`` head and train it."""
        classifier = issubclass(criterion, torch.nn.CrossEntropyLoss)
        self._check_finetune_params(classifier)
        if self.precision == "fp16":
            raise ValueError("precision='fp16' is for inference; train with precision='bf16' "
                             "(fp16 training needs loss scaling).")
        from skorch.dataset import ValidSplit  # skorch: imported when a model is trained

        from ._net import Net, accelerated_net

        X, _ = self._prepare(X, n_outputs=n_outputs, output="logits")
        if len(y_train) != len(X):
            raise ValueError(f"X has {len(X)} windows but y has {len(y_train)} targets.")
        with seeded(self.random_state, self.device):
            self._prepare_module()
            Xt, module = self._training_data(X)
            groups = ft.param_groups(self.module_, self.lr, self.weight_decay, self.layer_decay)
            train_split = None
            if self.early_stopping:
                train_split = ValidSplit(self.validation_fraction, stratified=classifier,
                                         random_state=self.random_state)
            net_class, extra = Net, {"device": self.device}
            if self.accelerate:
                net_class, extra = accelerated_net(self.device)
            net = net_class(
                module=module,
                criterion=criterion,
                optimizer=torch.optim.AdamW,
                lr=self.lr,
                param_groups=groups,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                train_split=train_split,
                iterator_train__shuffle=True,
                precision=self.precision,
                iterator_train__pin_memory=torch.device(self.device).type == "cuda",
                callbacks=self._callbacks(len(X)) or None,
                verbose=int(self.verbose),
                **self._criterion_kwargs(y_train),
                **extra,
            )
            with dependency_notices_filtered(self.card_.quiet_warnings), self._threads():
                net.fit(Xt, y_train)
        self.n_trainable_params_ = ft.count_trainable(self.module_)
        if self.merge_lora:
            ft.merge_adapters(self.module_)
        self.history_ = net.history
        self.module_.eval()
        return self
