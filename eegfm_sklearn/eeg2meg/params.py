"""The EEG->MEG regressor's parameters, declared once (scikit-learn ``_parameter_constraints``).

Same layer as :mod:`eegfm_sklearn.estimators.params`: ``fit`` checks every
parameter against these declarations before it reads the data or builds a
network. Checks across parameters (``d_model`` a multiple of ``n_heads``)
are the network constructor's, which also runs before any training.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..estimators.params import COMMON, FINETUNE, Satisfies, non_negative, positive
from .brainformer import STRATEGIES
from .networks import network_modes


def _at_least(low):
    return Interval(Integral, low, None, closed="left")


def _is_mode(value):
    return isinstance(value, str) and value in network_modes()


def _mode_description():
    return f"a network mode, one of {list(network_modes())}"


REGRESSOR = {
    "mode": [Satisfies(_is_mode, _mode_description)],
    "seg_len": [_at_least(1)],
    "d_model": [_at_least(1)],
    "n_heads": [_at_least(1)],
    "n_encoder_layers": [_at_least(0)],
    "n_decoder_layers": [_at_least(0)],
    "n_routers": [None, _at_least(1)],
    "d_ff": [None, _at_least(1)],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "linear_skip": ["boolean"],
    "skip_lags": [_at_least(0)],
    "patch_context": [None, _at_least(0)],
    "drop_path": [Interval(Real, 0, 1, closed="left")],
    "autoregressive": ["boolean"],
    "stem_lags": [_at_least(0)],
    "target_sigma": [Interval(Real, 0, None, closed="left")],
    "clip_percentile": [Interval(Real, 0, 100, closed="right")],
    "decoding": [StrOptions(set(STRATEGIES))],
    "decoding_temperature": [Interval(Real, 0, None, closed="neither")],
    "decoding_top_k": [None, _at_least(1)],
    "max_epochs": [non_negative(Integral)],
    "batch_size": COMMON["batch_size"],
    "lr": [positive()],
    "weight_decay": [non_negative()],
    # the same declarations as the fine-tuned estimators' (the split differs: a contiguous block here)
    "early_stopping": FINETUNE["early_stopping"],
    "validation_fraction": FINETUNE["validation_fraction"],
    "n_iter_no_change": FINETUNE["n_iter_no_change"],
    "random_state": COMMON["random_state"],
    "device": COMMON["device"],
    "verbose": COMMON["verbose"],
}
