"""Frozen encoder -> embeddings, as a scikit-learn transformer."""

from __future__ import annotations

import hashlib
import uuid

import mne
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from ..backbone import predict_batches, resolve_pooling
from ..cache import config_hash, get_store, window_hashes
from ..cards import get_model_card
from ..streaming import iter_raw_windows
from ..validation import mne_recording_info
from . import params
from .base import COMMON_PARAMS_DOC, FoundationEstimatorBase

TRANSFORMER_PARAMS_DOC = COMMON_PARAMS_DOC + """
    cache : None or "memory" or str (directory), default=None
        Embedding cache. With a cache, each window is embedded once per
        configuration (weights' hash or random seed, the card's
        preprocessing, the adapter plan, every param that changes
        embeddings), so folds of a cross-validation reuse each other's
        work, and the backbone is only built on the first cache miss.
        ``"memory"`` lives in this process; a directory is shared by
        processes (joblib ``n_jobs > 1``). With ``weights=None`` set
        ``random_state``, else every fit draws new weights and nothing is
        shared.
    pooling : {None, "cls", "mean", "flatten"}, default=None
        How tokens become one embedding; None is the card's default
        (``get_model_card(model).default_pooling``). Attentive pooling needs
        training: use ``FoundationClassifier(pooling="attentive")``.
    window_seconds : float or None, default=None
        For a continuous ``mne.io.Raw`` input: window length. Windows are
        read chunk by chunk (bounded memory) and embedded in order.
    stride_seconds : float or None, default=None
        Step between Raw windows (default: ``window_seconds``, no overlap).
"""


class FoundationTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, FoundationEstimatorBase):
    __doc__ = """Embed EEG windows with a frozen foundation-model encoder.

    ``fit`` adapts the input to the model card's contract and builds (or
    loads) the backbone; it trains nothing. ``transform`` returns the pooled
    embedding declared by the card (e.g. LaBraM's CLS token).

    Parameters
    ----------""" + TRANSFORMER_PARAMS_DOC + """
    Attributes
    ----------
    backbone_ : torch.nn.Module
        The braindecode module.
    channel_report_ : ChannelReport
        How each backbone channel was obtained (matched / derived /
        interpolated / zero).
    weights_report_ : WeightsReport or None
        What was loaded (None for random weights or before a lazy build).
    n_features_in_ : int
        Number of input channels seen in fit.
    embedding_size_ : int
        Length of each embedding.
    cache_key_ : str or None
        Configuration part of the cache keys.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(FoundationTransformer("labram", sfreq=500, ch_names=names),
    ...                      LogisticRegression())  # doctest: +SKIP
    """

    _parameter_constraints: dict = params.TRANSFORMER

    def __init__(self, model="labram", *, weights=None, cache_dir=None, sfreq=None, ch_names=None, units="uV",
                 montage=None, missing_channels="interpolate", window_policy="crop", model_kwargs=None,
                 batch_size=64, device="cpu", precision=None, compile=False, random_state=None, verbose=0,
                 cache=None,
                 pooling=None, window_seconds=None, stride_seconds=None):
        super().__init__(model, weights=weights, cache_dir=cache_dir, sfreq=sfreq, ch_names=ch_names,
                         units=units, montage=montage, missing_channels=missing_channels,
                         window_policy=window_policy, model_kwargs=model_kwargs, batch_size=batch_size,
                         device=device, precision=precision, compile=compile, random_state=random_state,
                         verbose=verbose)
        self.cache = cache
        self.pooling = pooling
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Plan the adapter and build (or, with a cache, defer) the frozen backbone.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs or mne.io.Raw
            Windows; numpy input needs ``sfreq`` and ``ch_names``; a Raw is
            cut into windows of ``window_seconds``.
        y : ignored

        Returns
        -------
        self
        """
        self._check_pooling()
        if isinstance(X, mne.io.BaseRaw):
            X, resolved = self._prepare_raw(X)
        else:
            X, resolved = self._prepare(X)
        store = get_store(self.cache)
        self.cache_key_ = config_hash(self._cache_config(resolved)) if store is not None else None
        meta = store.get_meta(self.cache_key_) if store is not None else None
        if meta is not None:
            self.embedding_size_ = int(meta["embedding_size"])
            return self
        self._build_frozen(resolved)
        probe = self.adapter_.transform(X[:1])
        self.embedding_size_ = predict_batches(self.module_, probe, 1, self.device, self.precision).shape[1]
        if store is not None:
            store.put_meta(self.cache_key_, {"embedding_size": self.embedding_size_})
        return self

    def transform(self, X):
        """Embed windows.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs or mne.io.Raw
            Windows with the channels, rate and length seen in ``fit``; a
            Raw is streamed in windows of ``window_seconds``.

        Returns
        -------
        embeddings : ndarray of float32, shape (n_trials or n_windows, embedding_size_)
        """
        if isinstance(X, mne.io.BaseRaw):
            return self._transform_raw(X)
        return self._transform_windows(self._validate(X))

    # -- continuous recordings --------------------------------------------
    def _raw_geometry(self, raw):
        if self.window_seconds is None:
            raise ValueError("A Raw input needs window_seconds= (and optionally stride_seconds=).")
        sfreq = raw.info["sfreq"]
        window = int(round(self.window_seconds * sfreq))
        stride = int(round((self.stride_seconds or self.window_seconds) * sfreq))
        if stride < 1 or raw.n_times < window:
            raise ValueError(
                f"The recording ({raw.n_times / sfreq:.1f} s) holds no full {self.window_seconds} s "
                "window, or the stride is below one sample."
            )
        return window, stride

    def _raw_chunks(self, raw, picks):
        window, stride = self._raw_geometry(raw)
        for chunk in iter_raw_windows(raw, picks, window, stride, max(int(self.batch_size), 1)):
            if not np.all(np.isfinite(chunk)):
                raise ValueError("The recording contains NaN or infinity; clean or annotate it first.")
            yield chunk

    def _prepare_raw(self, raw):
        """``_prepare`` for a Raw: plan from its windows, statistics merged chunk by chunk."""
        picks, info = mne_recording_info(raw, self.sfreq, self.ch_names)
        window, _ = self._raw_geometry(raw)
        resolved = self._set_fitted(info, lambda adapter: adapter.fit_chunks(self._raw_chunks(raw, picks), window))
        first = next(iter(iter_raw_windows(raw, picks, window, window, 1)))
        return first, resolved

    def _transform_raw(self, raw):
        check_is_fitted(self, "adapter_")
        picks, info = mne_recording_info(raw, self.sfreq, self.ch_names)
        if (info.ch_names, info.sfreq) != (self.recording_info_.ch_names, self.recording_info_.sfreq):
            raise ValueError("The Raw's channels or sampling rate differ from those seen in fit; refit.")
        if self._raw_geometry(raw)[0] != self.adapter_.n_times_in_:
            raise ValueError("window_seconds differs from the one used in fit; refit.")
        out = [self._transform_windows(chunk) for chunk in self._raw_chunks(raw, picks)]
        return np.concatenate(out, axis=0)

    def _transform_windows(self, X):
        store = get_store(self.cache)
        if store is None:
            return self._adapt_and_forward(X)
        keys = window_hashes(X)
        found = store.get_many(self.cache_key_, keys)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            computed = self._adapt_and_forward(X[missing])
            store.put_many(self.cache_key_, [keys[i] for i in missing], computed)
            for i, row in zip(missing, computed):
                found[i] = row
        return np.stack(found).astype(np.float32, copy=False)

    def _check_pooling(self):
        """The pooling must exist for the model and need no training (checked before any weights are read)."""
        if self.pooling == "attentive":
            raise ValueError("pooling='attentive' is learned; a frozen transformer cannot train it. "
                             "Use 'cls', 'mean' or 'flatten', or FoundationClassifier(pooling='attentive').")
        resolve_pooling(get_model_card(self.model), self.pooling)

    def _build_frozen(self, resolved):
        self._build(resolved, n_outputs=1, output="features")
        self.module_.set_pooling(self.pooling)
        self.module_.eval().requires_grad_(False)
        return self.module_

    def _module(self):
        # Built lazily after a fit served from the cache (first miss only).
        if "module_" not in self.__dict__:
            check_is_fitted(self, "adapter_")
            # Re-read the tensors only: the card and contract stay those resolved in fit (card_).
            _, resolved = self._resolve_weights()
            self._build_frozen(resolved)
        return self.module_

    def _cache_config(self, resolved):
        """What, besides a window's values, determines its embedding."""
        if resolved is not None:
            weights = {"files": sorted(resolved.files.values()), "fmt": resolved.fmt}
        elif self.random_state is not None:
            weights = {"random_state": int(self.random_state)}
        else:
            weights = {"unshared": uuid.uuid4().hex}  # fresh random weights each fit
        ad, info = self.adapter_, self.recording_info_
        return {
            "version": 2,  # bump when the adapter's or forward's numerics change (2: float32 resampling)
            "card": {k: repr(v) for k, v in self.card_.summary().items()},
            "contract": self.contract_,
            "weights": weights,
            "model_kwargs": repr(sorted((self.model_kwargs or {}).items())),
            "pooling": self.pooling,
            "input": {"sfreq": info.sfreq, "ch_names": list(info.ch_names), "units": info.units},
            "adapter": {
                "matrix": hashlib.blake2b(np.ascontiguousarray(ad.matrix_).tobytes(), digest_size=16).hexdigest(),
                "ratio": [ad.up_, ad.down_],
                "n_times": [ad.n_times_in_, ad.n_times_out_],
                "stats": ad.stats_,
            },
            "device": str(self.device),
            "precision": self.precision,
        }

    def _fitted_state(self):
        return {"embedding_size_": int(self.embedding_size_)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Embeddings are float32 whatever the input: only float32 input keeps its dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.embedding_size_
