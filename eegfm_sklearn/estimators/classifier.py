"""Fine-tuned foundation model as a scikit-learn classifier."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets

from .training import FINETUNE_PARAMS_DOC, FineTunedEstimatorBase, check_targets


class FoundationClassifier(ClassifierMixin, FineTunedEstimatorBase):
    __doc__ = """Fine-tune a foundation model with a classification head.

    Parameters
    ----------""" + FINETUNE_PARAMS_DOC + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The original labels (strings allowed), in sorted order.
    backbone_ : torch.nn.Module
        The braindecode module (its own head is used with the card's
        default pooling; another pooling adds a head in ``module_.head``).
    channel_report_ : ChannelReport
    weights_report_ : WeightsReport or None
    history_ : skorch.History
        Per-epoch training loss.
    n_trainable_params_ : int
        Parameters updated by the fine-tuning method.
    n_features_in_ : int
        Number of input channels seen in fit.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune on labelled windows.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Training windows; numpy input needs ``sfreq`` and ``ch_names``
            and is in ``units``, mne input carries its own (in volts).
        y : array-like of shape (n_trials,)
            Class labels of any type (at least two classes).

        Returns
        -------
        self : FoundationClassifier
            The fitted classifier.
        """
        y = check_targets(self, X, y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y holds only one class ({encoder.classes_[0].item()!r}); a classifier needs at least two."
            )
        self.classes_ = encoder.classes_
        return self._train(X, encoder.transform(y).astype(np.int64), len(self.classes_),
                           torch.nn.CrossEntropyLoss)

    def _fitted_state(self):
        return {"classes_": self.classes_.tolist()}

    def decision_function(self, X):
        """Compute the head's logits.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows with the channels, rate and length seen in ``fit``
            (numpy input in ``units``, mne input in volts).

        Returns
        -------
        scores : ndarray of float32, shape (n_trials,) or (n_trials, n_classes)
            For two classes, the logit of ``classes_[1]`` minus that of
            ``classes_[0]`` (positive: ``classes_[1]``), shape (n_trials,);
            otherwise the logits, shape (n_trials, n_classes), columns in
            the order of ``classes_``.
        """
        logits = self._forward(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Compute class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows with the channels, rate and length seen in ``fit``
            (numpy input in ``units``, mne input in volts).

        Returns
        -------
        proba : ndarray of float64, shape (n_trials, n_classes)
            Softmax of the head's logits; columns in the order of
            ``classes_``, rows summing to 1.
        """
        return softmax(self._forward(X).astype(np.float64), axis=1)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows with the channels, rate and length seen in ``fit``
            (numpy input in ``units``, mne input in volts).

        Returns
        -------
        labels : ndarray of shape (n_trials,)
            The class of the largest logit per window, taken from
            ``classes_`` (so of the labels' type in ``fit``).
        """
        logits = self._forward(X)
        return self.classes_[np.argmax(logits, axis=1)]
