"""Frozen encoder -> embeddings, as a scikit-learn transformer."""

from __future__ import annotations

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .base import COMMON_PARAMS_DOC, FoundationEstimatorBase


class FoundationTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, FoundationEstimatorBase):
    __doc__ = """Embed EEG windows with a frozen foundation-model encoder.

    ``fit`` adapts the input to the model card's contract and builds (or
    loads) the backbone; it trains nothing. ``transform`` returns the pooled
    embedding declared by the card (e.g. LaBraM's CLS token).

    Parameters
    ----------""" + COMMON_PARAMS_DOC + """
    Attributes
    ----------
    backbone_ : torch.nn.Module
        The braindecode module.
    channel_report_ : ChannelReport
        How each backbone channel was obtained (matched / derived /
        interpolated / zero).
    weights_report_ : WeightsReport or None
        What was loaded (None for random weights).
    n_features_in_ : int
        Number of input channels seen in fit.
    embedding_size_ : int
        Length of each embedding.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(FoundationTransformer("labram", sfreq=500, ch_names=names),
    ...                      LogisticRegression())  # doctest: +SKIP
    """

    def fit(self, X, y=None):
        """Plan the adapter and build the frozen backbone.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows; numpy input needs ``sfreq`` and ``ch_names``.
        y : ignored

        Returns
        -------
        self
        """
        Xt = self._fit_backbone(X, n_outputs=1, output="features")
        self.module_.eval().requires_grad_(False)
        from ..backbone import predict_batches

        self.embedding_size_ = predict_batches(self.module_, Xt[:1], 1, self.device).shape[1]
        return self

    def transform(self, X):
        """Embed windows.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs
            Windows with the channels, rate and length seen in ``fit``.

        Returns
        -------
        embeddings : ndarray of float32, shape (n_trials, embedding_size_)
        """
        return self._forward(X)

    def _fitted_state(self):
        return {"embedding_size_": int(self.embedding_size_)}

    @property
    def _n_features_out(self):
        return self.embedding_size_
