"""Fine-tuned foundation model as a scikit-learn regressor."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context

from .training import FINETUNE_PARAMS_DOC, FineTunedEstimatorBase, check_targets


class FoundationRegressor(RegressorMixin, FineTunedEstimatorBase):
    __doc__ = """Fine-tune a foundation model with a regression head.

    Targets are standardised inside ``fit`` (learned ``y_mean_``,
    ``y_scale_``) and predictions returned in the original units.

    Parameters
    ----------""" + FINETUNE_PARAMS_DOC + """
    Attributes
    ----------
    y_mean_, y_scale_ : ndarray of shape (n_targets,)
    backbone_ : torch.nn.Module
    channel_report_ : ChannelReport
    weights_report_ : WeightsReport or None
    history_ : skorch.History
    n_trainable_params_ : int
        Parameters updated by the fine-tuning method.
    n_features_in_ : int
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune on windows with continuous targets.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Training windows; numpy input needs ``sfreq`` and ``ch_names``
            and is in ``units``, mne input carries its own (in volts).
        y : array-like of shape (n_trials,) or (n_trials, n_targets)
            Finite real targets; their shape (1-D or 2-D) is the shape
            ``predict`` returns.

        Returns
        -------
        self : FoundationRegressor
            The fitted regressor.
        """
        y = check_targets(self, X, y, column_to_1d=False)
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported: y is complex; pass real targets (np.real(y) or np.abs(y)).")
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"y must be numeric regression targets; got dtype {y.dtype}. For class labels, "
                             "use FoundationClassifier.") from None
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf; drop or impute those targets first.")
        self.y_ndim_ = y.ndim
        y2 = y.reshape(len(y), -1)
        self.y_mean_ = y2.mean(axis=0)
        self.y_scale_ = np.where(y2.std(axis=0) > 0, y2.std(axis=0), 1.0)
        y_train = ((y2 - self.y_mean_) / self.y_scale_).astype(np.float32)
        return self._train(X, y_train, y2.shape[1], torch.nn.MSELoss)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _fitted_state(self):
        return {"y_mean_": self.y_mean_.tolist(), "y_scale_": self.y_scale_.tolist(), "y_ndim_": self.y_ndim_}

    def predict(self, X):
        """Predict continuous targets.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows with the channels, rate and length seen in ``fit``
            (numpy input in ``units``, mne input in volts).

        Returns
        -------
        y_pred : ndarray of float64, shape (n_trials,) or (n_trials, n_targets)
            In the units of the ``y`` given to ``fit``; 1-D when that ``y``
            was 1-D.
        """
        out = self._forward(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.y_ndim_ == 1 else out
