"""Frozen encoder -> embeddings, as a scikit-learn transformer."""

from __future__ import annotations

import hashlib
import uuid
import warnings

import mne
import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from ..backbone import predict_batches, resolve_pooling
from ..cards import get_model_card
from ..preprocessing.streaming import good_window_starts, iter_raw_windows
from ..utils._warn import dependency_notices_filtered, user_stacklevel
from ..utils.cache import CacheWarning, config_hash, get_store, window_hashes
from ..utils.seeding import seeded
from ..validation import mne_recording_info
from . import params
from .base import COMMON_PARAMS_DOC, FILTERS_PARAM_DOC, FoundationEstimatorBase

TRANSFORMER_PARAMS_DOC = COMMON_PARAMS_DOC + """
    cache : None or "memory" or str (directory), default=None
        Embedding cache. With a cache, each window is embedded once per
        configuration (weights' hash or random seed, the card's
        preprocessing, the adapter plan, every param that changes
        embeddings), so folds of a cross-validation reuse each other's
        work, and the backbone is only built on the first cache miss.
        ``"memory"`` lives in this process; a directory is shared by
        processes (joblib ``n_jobs > 1``) and threads. Weights files are
        identified by the SHA-256 of their content. Every entry is verified
        when read (dtype, length, checksum, finite values); a damaged one
        is reported with a ``CacheWarning``, deleted and recomputed. A
        folder that cannot be read or written (read-only, full) is reported
        once with a ``CacheWarning`` and embeddings are computed without
        it. With ``weights=None`` set ``random_state``, else every fit
        draws new weights and nothing is shared.
    cache_max_bytes : int, default=2**30
        Bound of the process-wide ``cache="memory"`` table, in bytes
        (embeddings and keys); when it is exceeded the least recently used
        embeddings are dropped. Applied whenever this estimator adds
        entries; ignored by the other caches.
    pooling : {None, "cls", "mean", "flatten"}, default=None
        How tokens become one embedding; None is the card's default
        (``get_model_card(model).default_pooling``). Attentive pooling needs
        training: use ``FoundationClassifier(pooling="attentive")``.
    window_seconds : float or None, default=None
        For a continuous ``mne.io.Raw`` input: window length (> 0). Windows
        are read chunk by chunk (bounded memory) and embedded in order;
        their start samples are ``window_starts_``.
    stride_seconds : float or None, default=None
        Step between Raw windows (> 0; default: ``window_seconds``, no
        overlap).
    reject_by_annotation : bool, default=True
        For a Raw input: skip windows overlapping an annotation whose
        description starts with "bad" (any case: ``BAD_``, the
        ``BAD boundary`` between concatenated recordings) or "edge"
        (``EDGE boundary``), as mne's ``reject_by_annotation`` skips epochs.
        ``False`` embeds every window.
""" + FILTERS_PARAM_DOC


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
        Length of each embedding (``n_sub * `` the backbone's with
        ``window_policy="split"`` and ``split_pooling="concat"``).
    n_real_samples_ : int
        Samples of each backbone window that are data, not padding.
    cache_key_ : str or None
        Configuration part of the cache keys.
    window_starts_ : ndarray of int, shape (n_windows,)
        After ``fit`` or ``transform`` of a Raw: start sample (index into
        ``raw.times``) of each window embedded, in the order of the rows
        returned; windows rejected by annotations are absent.
    window_onsets_ : ndarray of float, shape (n_windows,)
        The same starts in seconds on the clock of ``raw.times``; add
        ``raw.first_time`` for mne's event/annotation clock.
    n_windows_rejected_ : int
        Windows of the last Raw skipped because of annotations.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(FoundationTransformer("labram", sfreq=500, ch_names=names),
    ...                      LogisticRegression())  # doctest: +SKIP
    """

    _parameter_constraints: dict = params.TRANSFORMER

    def __init__(self, model, *, weights=None, cache_dir=None, sfreq=None, ch_names=None, units="uV",
                 montage=None, missing_channels="interpolate", window_policy="crop", model_kwargs=None,
                 batch_size=64, device="cpu", precision=None, compile=False, random_state=None, verbose=0,
                 pad_mode="constant", max_window_seconds=None, split_overlap=0.0, split_pooling="mean",
                 cache=None, cache_max_bytes=2**30,
                 pooling=None, window_seconds=None, stride_seconds=None, reject_by_annotation=True, filters="card",
                 n_threads=None):
        super().__init__(model, weights=weights, cache_dir=cache_dir, sfreq=sfreq, ch_names=ch_names,
                         units=units, montage=montage, missing_channels=missing_channels,
                         window_policy=window_policy, model_kwargs=model_kwargs, batch_size=batch_size,
                         device=device, precision=precision, compile=compile, random_state=random_state,
                         verbose=verbose, pad_mode=pad_mode, max_window_seconds=max_window_seconds,
                         split_overlap=split_overlap, split_pooling=split_pooling, filters=filters,
                         n_threads=n_threads)
        self.cache = cache
        self.cache_max_bytes = cache_max_bytes
        self.pooling = pooling
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds
        self.reject_by_annotation = reject_by_annotation

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Plan the adapter and build (or, with a cache, defer) the frozen backbone.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs or mne.io.Raw
            Windows; numpy input needs ``sfreq`` and ``ch_names``; a Raw is
            cut into windows of ``window_seconds``.
        y : None
            Ignored; present for scikit-learn's pipeline API.

        Returns
        -------
        self : FoundationTransformer
            The fitted transformer.
        """
        self._fit_windows(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, then embed the same windows, validating them once.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs or mne.io.Raw
            As for ``fit``.
        y : None
            Ignored; present for scikit-learn's pipeline API.

        Returns
        -------
        embeddings : ndarray of float32, shape (n_trials or n_windows, ``embedding_size_``)
            What ``fit(X).transform(X)`` returns.
        """
        if isinstance(X, mne.io.BaseRaw):  # fit cuts windows, transform streams them (other starts)
            return self.fit(X).transform(X)
        return self._transform_windows(self._fit_windows(X))

    def _fit_windows(self, X):
        """Fit on X; returns the validated windows (input units)."""
        self._check_pooling()
        if isinstance(X, mne.io.BaseRaw):
            X, resolved = self._prepare_raw(X)
        else:
            X, resolved = self._prepare(X)
        self._weights_id_ = self._weights_identity(resolved)  # the files' digests were taken by resolve_weights
        self._built_from_ = self._live_params()
        self._key_and_size(X, resolved)
        if "module_" not in self.__dict__:  # served from the cache: the first miss builds from these tensors
            self._resolved = resolved
        return X

    def transform(self, X):
        """Embed windows.

        Parameters
        ----------
        X : ndarray of shape (n_trials, n_chans, n_times) or mne.Epochs or mne.io.Raw
            Windows with the channels, rate and length seen in ``fit``; a
            Raw is streamed in windows of ``window_seconds`` every
            ``stride_seconds``, skipping those that overlap bad or edge
            annotations (``reject_by_annotation``).

        Returns
        -------
        embeddings : ndarray of float32, shape (n_trials or n_windows, ``embedding_size_``)
            For a Raw, row ``i`` is the window starting at sample
            ``window_starts_[i]`` (``window_onsets_[i]`` seconds).
        """
        if isinstance(X, mne.io.BaseRaw):
            return self._transform_raw(X)
        X = self._validate(X)
        self._sync_params(X)
        return self._transform_windows(X)

    # -- params read after fit ----------------------------------------------
    # Read when the backbone is built or its outputs pooled: set_params after fit takes effect, and
    # the cache key follows (it must always describe what was computed).
    _LIVE_PARAMS = ("pooling", "split_pooling", "precision", "device", "random_state")
    # The adapter plan and the checkpoint's contract were resolved from these in fit.
    _REFIT_PARAMS = ("model", "weights", "model_kwargs")

    def _live_params(self):
        return {name: repr(getattr(self, name)) for name in self._LIVE_PARAMS + self._REFIT_PARAMS}

    def _key_and_size(self, X, resolved):
        """``cache_key_`` from the params in force, and ``embedding_size_`` (from the cache or a probe)."""
        store = self._store()
        self.cache_key_ = config_hash(self._cache_config()) if store is not None else None
        meta = store.get_meta(self.cache_key_) if store is not None else None
        size = meta.get("embedding_size") if isinstance(meta, dict) else None
        if isinstance(size, int) and size > 0:
            self.embedding_size_ = size  # the backbone is built on the first cache miss
            return
        self._build_frozen(resolved)
        with dependency_notices_filtered(self.card_.quiet_warnings), self._threads():
            probe = self.adapter_.transform(X[:1], part=slice(0, 1))  # one window (a trial's first if split)
            width = predict_batches(self.module_, probe, 1, self.device, self.precision).shape[1]
        self.embedding_size_ = width * (self.adapter_.n_sub_ if self.split_pooling == "concat" else 1)
        if store is not None:
            store.put_meta(self.cache_key_, self._cache_meta())

    def _sync_params(self, X):
        """Follow params changed since fit: rebuild the backbone and re-key the cache from them."""
        built, now = self.__dict__.get("_built_from_"), self._live_params()
        if built is None:  # restored by from_pretrained (or pickled by an older version): as loaded
            self._built_from_ = now
            if "cache_key_" not in self.__dict__:
                store = self._store()
                self.cache_key_ = None if store is None else config_hash(self._cache_config())
            return
        changed = [name for name in now if now[name] != built.get(name)]
        if not changed:
            return
        refit = [name for name in changed if name in self._REFIT_PARAMS]
        if refit:
            raise ValueError(f"{', '.join(refit)} changed since fit (the input plan and weights were resolved "
                             "from them); call fit again.")
        for attr in ("module_", "_compiled"):
            self.__dict__.pop(attr, None)
        resolved = self._fitted_weights()
        self._weights_id_ = self._weights_identity(resolved)
        self._built_from_ = now
        self._key_and_size(X, resolved)
        if "module_" not in self.__dict__:
            self._resolved = resolved

    # -- continuous recordings --------------------------------------------
    def _raw_geometry(self, raw):
        """Window and stride in samples, checked."""
        if self.window_seconds is None:
            raise ValueError("A Raw input needs window_seconds= (and optionally stride_seconds=).")
        stride_seconds = self.window_seconds if self.stride_seconds is None else self.stride_seconds
        for name, value in (("window_seconds", self.window_seconds), ("stride_seconds", stride_seconds)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0 \
                    or not np.isfinite(value):
                raise ValueError(f"{name} must be a number of seconds > 0; got {value!r}.")
        sfreq = raw.info["sfreq"]
        window, stride = round(self.window_seconds * sfreq), round(stride_seconds * sfreq)
        if window < 1 or stride < 1:
            raise ValueError(f"window_seconds={self.window_seconds} and stride_seconds={stride_seconds} must "
                             f"each last at least one sample (1 / {sfreq:g} Hz = {1 / sfreq:.4g} s).")
        return window, stride

    def _raw_starts(self, raw):
        """Start samples of the windows to embed; sets ``window_starts_`` and friends."""
        window, stride = self._raw_geometry(raw)
        starts, rejected = good_window_starts(raw, window, stride, self.reject_by_annotation)
        if len(starts) == 0:
            duration = raw.n_times / raw.info["sfreq"]
            if rejected:
                raise ValueError(f"All {rejected} windows of {self.window_seconds} s overlap bad or edge "
                                 "annotations; shorten window_seconds, remove those annotations, or pass "
                                 "reject_by_annotation=False to embed them anyway.")
            raise ValueError(f"The recording ({duration:.1f} s) holds no full {self.window_seconds} s window; "
                             "shorten window_seconds.")
        self.window_starts_ = starts
        self.window_onsets_ = starts / raw.info["sfreq"]
        self.n_windows_rejected_ = rejected
        return starts, window

    def _raw_chunks(self, raw, picks, starts, window, adapter):
        read = adapter.filter_plan_.reader(raw, picks)  # the card's filters, before windowing
        for chunk_starts, chunk in iter_raw_windows(raw, picks, starts, window, max(int(self.batch_size), 1),
                                                    read=read):
            finite = np.isfinite(chunk).all(axis=(1, 2))
            if not finite.all():
                onset = chunk_starts[np.flatnonzero(~finite)[0]] / raw.info["sfreq"]
                fix = ("mark the span with an annotation whose description starts with 'BAD_' "
                       "(raw.annotations.append(onset, duration, 'BAD_nan')) so its windows are skipped"
                       if self.reject_by_annotation else
                       "annotate the span 'BAD_...' and set reject_by_annotation=True so its windows are skipped")
                raise ValueError(f"The window starting at {onset:.3f} s (raw.times) contains NaN or infinity; "
                                 f"{fix}, or repair the data (e.g. raw.interpolate_bads for a bad channel).")
            yield chunk

    def _prepare_raw(self, raw):
        """``_prepare`` for a Raw: plan from its windows, statistics merged chunk by chunk."""
        picks, info = mne_recording_info(raw, self.sfreq, self.ch_names)
        starts, window = self._raw_starts(raw)
        resolved = self._set_fitted(info, lambda adapter: adapter.fit_chunks(
            self._raw_chunks(raw, picks, starts, window, adapter), window, prefiltered=True))
        _, first = next(iter_raw_windows(raw, picks, starts[:1], window, 1))
        return first, resolved

    def transform_chunks(self, raw):
        """Embed a continuous recording chunk by chunk, for outputs too long to hold.

        The recording is checked and ``window_starts_``, ``window_onsets_``
        and ``n_windows_rejected_`` set before this returns; the windows
        are read and embedded as the chunks are consumed.

        Parameters
        ----------
        raw : mne.io.Raw
            As for :meth:`transform`.

        Returns
        -------
        chunks : iterator of ndarray of float32, shape (<= batch_size, ``embedding_size_``)
            Consecutive rows of ``transform(raw)``, in order.
        """
        check_is_fitted(self, "adapter_")
        picks, info = mne_recording_info(raw, self.sfreq, self.ch_names)
        if (info.ch_names, info.sfreq) != (self.recording_info_.ch_names, self.recording_info_.sfreq):
            raise ValueError("The Raw's channels or sampling rate differ from those seen in fit; refit.")
        if self._raw_geometry(raw)[0] != self.adapter_.n_times_in_:
            raise ValueError("window_seconds differs from the one used in fit; refit.")
        starts, window = self._raw_starts(raw)
        self._sync_params(next(iter_raw_windows(raw, picks, starts[:1], window, 1))[1])
        return (self._transform_windows(chunk, prefiltered=True)
                for chunk in self._raw_chunks(raw, picks, starts, window, self.adapter_))

    def _transform_raw(self, raw):
        from ..preprocessing.streaming import chunk_bounds
        from ..utils.progress import progress

        chunks = self.transform_chunks(raw)
        # a long recording shows its progress (verbose, on a terminal); each chunk is one batch
        n_chunks = len(chunk_bounds(self.window_starts_, self.adapter_.n_times_in_, max(int(self.batch_size), 1)))
        chunks = progress(chunks, total=n_chunks, verbose=self.verbose, desc="embedding", unit="chunk")
        # filled in place: a list of chunks plus their concatenation would hold the output twice
        out = np.empty((len(self.window_starts_), self.embedding_size_), dtype=np.float32)
        done = 0
        for rows in chunks:
            out[done:done + len(rows)] = rows
            done += len(rows)
        return out

    def _store(self):
        return get_store(self.cache, self.cache_max_bytes)

    def _transform_windows(self, X, prefiltered=False):
        store = self._store()
        if store is None or self.cache_key_ is None:
            return self._adapt_and_forward(X, prefiltered)
        keys = window_hashes(X)
        # windows filtered before windowing are other values than raw windows: keys of their own
        config = self.cache_key_ + ("-prefiltered" if prefiltered else "")
        found = store.get_many(config, keys, (self.embedding_size_,))
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            self._module()  # a lazy build checks the cache's weights and may turn the cache off
            if self.cache_key_ is None:
                return self._adapt_and_forward(X, prefiltered)
            computed = self._adapt_and_forward(X[missing], prefiltered)
            finite = np.isfinite(computed).all(axis=1)  # never cache a broken embedding
            store.put_many(config, [keys[i] for i, ok in zip(missing, finite) if ok], computed[finite])
            for i, row in zip(missing, computed):
                found[i] = row
        return np.stack(found).astype(np.float32, copy=False)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_resolved", None)  # tensors held for a deferred build: read again from the files
        return state

    def _check_pooling(self):
        """The pooling must exist for the model and need no training (checked before any weights are read)."""
        if self.pooling == "attentive":
            raise ValueError("pooling='attentive' is learned; a frozen transformer cannot train it. "
                             "Use 'cls', 'mean' or 'flatten', or FoundationClassifier(pooling='attentive').")
        resolve_pooling(get_model_card(self.model), self.pooling)

    def _build_frozen(self, resolved):
        self._build(resolved, n_outputs=1, output="features")
        with seeded(self.random_state, self.device):  # a pooling head's layers are initialised too
            self.module_.set_pooling(self.pooling)
        self.module_.eval().requires_grad_(False)
        return self.module_

    def _module(self):
        # Built lazily after a fit served from the cache (first miss only).
        if "module_" not in self.__dict__:
            check_is_fitted(self, "adapter_")
            # the card and contract stay those resolved in fit (card_)
            self._build_frozen(self._fitted_weights())
            self._check_cached_weights()
        return self.module_

    def _fitted_weights(self, keep=False):
        """The weights resolved in fit (read again only after unpickling, and then checked).

        The tensors are held from a cache-served fit until the first miss builds the
        backbone from them; a pickle does not carry them, so an unpickled estimator
        reads its files again and refuses ones whose content changed since fit (the
        cache key names the fit-time content).
        """
        resolved = self.__dict__.get("_resolved") if keep else self.__dict__.pop("_resolved", None)
        if resolved is not None or self.weights is None:
            return resolved
        _, resolved = self._resolve_weights()
        expected = (self.__dict__.get("_weights_id_") or {}).get("sha256")
        if expected is not None and sorted(resolved.files.values()) != expected:
            raise ValueError(f"The weights' files ({', '.join(resolved.files)}) changed since fit; "
                             "call fit again to use the new ones.")
        if keep:
            self._resolved = resolved
        return resolved

    def _cache_meta(self):
        meta = {"embedding_size": int(self.embedding_size_)}
        if self.weights is None:  # random weights: the seed must have given the same tensors
            meta["weights_fingerprint"] = _fingerprint(self.module_)
        return meta

    def _check_cached_weights(self):
        """Turn the cache off if this build's random weights differ from those that filled it."""
        store = self._store() if self.cache_key_ is not None and self.weights is None else None
        if store is None:  # pretrained weights: the key holds their content's SHA-256 already
            return
        meta = store.get_meta(self.cache_key_)
        expected = meta.get("weights_fingerprint") if isinstance(meta, dict) else None
        if expected is None:
            store.put_meta(self.cache_key_, self._cache_meta())
        elif expected != _fingerprint(self.module_):
            warnings.warn(
                "The backbone built now from random_state differs from the one whose embeddings fill the cache "
                "(torch's RNG was used by other code during the seeded build, or torch changed); this estimator "
                "computes without the cache.", CacheWarning, stacklevel=user_stacklevel())
            self.cache_key_ = None

    def _weights_identity(self, resolved):
        """What names the backbone's weights in the cache key."""
        if resolved is not None:
            # by content (digests taken when the weights were resolved): another file is another key
            return {"sha256": sorted(resolved.files.values()), "fmt": resolved.fmt}
        if self.random_state is not None:
            import braindecode  # imported by the module's build already

            return {"random_state": int(self.random_state), "torch": torch.__version__,
                    "braindecode": braindecode.__version__}
        return {"unshared": uuid.uuid4().hex}  # fresh random weights each fit

    def _cache_config(self):
        """What, besides a window's values, determines its embedding: the fitted plan and the params now."""
        if self.__dict__.get("_weights_id_") is None:
            self._weights_id_ = self._weights_identity(self._fitted_weights(keep=True))
        ad, info = self.adapter_, self.recording_info_
        return {
            # bump when numerics or the entry format change (2: float32 resampling; 3: checksums;
            # 4: params read at transform time, split_pooling always; 5: XXH3 window keys, a new
            # folder so that the SHA-256-named entries are not left beside the new ones)
            "version": 5,
            "card": {k: repr(v) for k, v in self.card_.summary().items()},
            "contract": self.contract_,
            "weights": self._weights_id_,
            "model_kwargs": repr(sorted((self.model_kwargs or {}).items())),
            "pooling": self.pooling,
            "split_pooling": self.split_pooling,
            "input": {"sfreq": info.sfreq, "ch_names": list(info.ch_names), "units": info.units},
            "adapter": {
                "matrix": hashlib.blake2b(np.ascontiguousarray(ad.matrix_).tobytes(), digest_size=16).hexdigest(),
                "ratio": [ad.up_, ad.down_],
                "n_times": [ad.n_times_in_, ad.n_times_out_],
                "windows": {"pad_mode": ad.pad_mode, "split": None if ad.split_ is None else
                            [ad.split_.length, list(ad.split_.starts), self.split_pooling]},
                "stats": ad.stats_,
                "filters": [ad.filter_plan_.describe(False), ad.filter_plan_.describe(True)],
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


def _fingerprint(module):
    """Digest of every tensor of a module's state (names and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(memoryview(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()
