"""Every estimator parameter, declared once: what values it accepts.

scikit-learn's ``_parameter_constraints`` style: ``fit`` (through
``_fit_context``) checks every parameter against these declarations before
anything else runs, so a bad value is reported by name, with what is
accepted, before any weights are resolved or downloaded. Checks that
depend on several parameters at once are here too (:func:`check_combinations`);
those that depend on the model (a card's poolings) stay with the code that uses
them. Both run before any weights are read; the helpers behind the estimators
trust what they are given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

from ..backbone import POOLINGS, PRECISIONS
from ..finetune import METHODS
from ..preprocessing.filtering import FILTER_OPTIONS
from ..preprocessing.montage import MISSING_POLICIES
from ..preprocessing.scaling import UNIT_TO_UV
from ..preprocessing.windowing import PAD_MODES, SPLIT_POOLINGS, WINDOW_POLICIES


class Satisfies(Options):
    """A constraint given by a predicate, described in words in the error message.

    ``Options`` is subclassed only because scikit-learn accepts instances of
    its own constraint classes in ``_parameter_constraints``.
    """

    def __init__(self, predicate, description):
        super().__init__(object, set())
        self.predicate = predicate
        self.description = description

    def is_satisfied_by(self, val):
        return bool(self.predicate(val))

    def __str__(self):
        return self.description() if callable(self.description) else self.description


def _is_model(value):
    from ..cards import ModelCard, list_models

    return isinstance(value, ModelCard) or (isinstance(value, str) and value.lower() in list_models())


def _model_description():
    from ..cards import list_models

    return f"a registered model name (one of {list_models()}) or a ModelCard"


def _is_name_list(value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        return False
    return len(value) > 0 and all(isinstance(name, str) for name in value)


class Number(Interval):
    """``Interval`` that refuses booleans (``True`` is not a rate or a count) and takes any real number.

    scikit-learn's ``Interval`` accepts ``True`` as 1 and crashes on real
    numbers numpy cannot test for NaN (``fractions.Fraction``,
    ``decimal.Decimal``): these are compared as floats here.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, self.type):
            return False
        if not isinstance(val, (Integral, float, np.floating)):
            try:
                val = float(val)
            except (TypeError, ValueError, OverflowError):
                return False
        return super().is_satisfied_by(val)


def positive(kind=Real):
    """Finite and > 0 (NaN and infinity excluded by ``Interval``)."""
    return Number(kind, 0, None, closed="neither")


def non_negative(kind=Real):
    """Finite and >= 0."""
    return Number(kind, 0, None, closed="left")


PATH = (str, os.PathLike)
LR_SCHEDULES = ("constant", "cosine")

COMMON = {
    "model": [Satisfies(_is_model, _model_description)],
    "weights": [None, *PATH, Mapping],
    "cache_dir": [None, *PATH],
    "sfreq": [None, positive()],
    "ch_names": [None, Satisfies(_is_name_list, "a non-empty list of channel names (str)")],
    "units": [StrOptions(set(UNIT_TO_UV))],
    "montage": [None, str, HasMethods(["get_positions"])],
    "missing_channels": [StrOptions(set(MISSING_POLICIES))],
    "window_policy": [StrOptions(set(WINDOW_POLICIES))],
    "model_kwargs": [None, Mapping],
    "batch_size": [Number(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "precision": [None, StrOptions({p for p in PRECISIONS if p is not None})],
    "compile": ["boolean"],
    "random_state": [None, Number(Integral, 0, 2**32 - 1, closed="both")],
    "verbose": ["verbose"],
    "pad_mode": [StrOptions(set(PAD_MODES))],
    "max_window_seconds": [None, positive()],
    "split_overlap": [Number(Real, 0, 1, closed="left")],
    "split_pooling": [StrOptions(set(SPLIT_POOLINGS))],
    "filters": [None, StrOptions({f for f in FILTER_OPTIONS if f is not None})],
    "n_threads": [None, Number(Integral, 1, None, closed="left")],
}

TRANSFORMER = {
    **COMMON,
    "cache": [None, *PATH],
    "pooling": [None, StrOptions(set(POOLINGS))],
    "window_seconds": [None, positive()],
    "stride_seconds": [None, positive()],
    "cache_max_bytes": [Number(Integral, 0, None, closed="left")],
    "reject_by_annotation": ["boolean"],
}

FINETUNE = {
    **COMMON,
    "keep_head": ["boolean"],
    "max_epochs": [non_negative(Integral)],
    "lr": [positive()],
    "weight_decay": [non_negative()],
    "callbacks": [None, list, tuple],
    "finetune": [StrOptions(set(METHODS))],
    "n_unfrozen_blocks": [non_negative(Integral)],
    "pooling": [None, StrOptions(set(POOLINGS))],
    "layer_decay": [None, Number(Real, 0, 1, closed="right")],
    "lora_rank": [Number(Integral, 1, None, closed="left")],
    "lora_alpha": [None, positive()],
    "peft_config": [None, HasMethods(["to_dict"])],
    "merge_lora": ["boolean"],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "warmup_epochs": [non_negative()],
    "max_grad_norm": [None, positive()],
    "early_stopping": ["boolean"],
    "validation_fraction": [Number(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Number(Integral, 1, None, closed="left")],
    "class_weight": [None, StrOptions({"balanced"}), Mapping],
    "accelerate": ["boolean"],
}


def check_combinations(est):
    """Raise ``ValueError`` for parameters valid alone but not together.

    Parameters
    ----------
    est : estimator
        Its parameters have passed ``_parameter_constraints``.
    """
    if est.max_window_seconds is not None and est.window_policy != "split":
        raise ValueError(f"max_window_seconds={est.max_window_seconds!r} sets where window_policy='split' "
                         f"cuts trials; got window_policy={est.window_policy!r}. Pass window_policy='split' "
                         "or leave max_window_seconds=None.")
