"""What every foundation-model estimator shares: input -> adapter -> backbone.

Subclasses add what they learn on top (nothing, a fine-tuned head, a
regression target scale). Params are stored untouched; everything learned
ends in ``_``; the skorch net is built inside ``fit``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..backbone import CardModule, predict_batches
from ..cards import get_model_card
from ..preprocessing.adapter import InputAdapter, check_window_length
from ..utils._warn import ISSUED_ATTR, dependency_notices_filtered, issued_by, warn
from ..utils.compiling import CompiledOrEager, CompileWarning
from ..utils.progress import progress
from ..utils.seeding import seeded  # also imported from here by training.py
from ..utils.threads import limited_threads
from ..validation import check_eeg_input, check_finite_outputs
from . import params

COMMON_PARAMS_DOC = """
    model : str or ModelCard
        Foundation model, one of :func:`eegfm_sklearn.list_models`.
    weights : None or str or path or dict, default=None
        ``None`` builds the card's architecture with *random* weights (no
        pretraining). Otherwise a checkpoint registry name (e.g.
        ``"labram-base"``), a Hugging Face repo id (``"owner/name@rev"``
        pins a revision), a local folder (``save_pretrained`` layout), an
        authors' original file, or for BENDR a dict
        ``{"encoder": path, "contextualizer": path}``. Every backbone tensor
        must load, else ``WeightsError``; see ``weights_report_``.
    cache_dir : str or None, default=None
        Hugging Face cache folder (default: ``$HF_HOME``'s hub cache).
    sfreq : float or None, default=None
        Sampling rate (Hz) of numpy input. Read from mne input.
    ch_names : list of str or None, default=None
        Channel names of numpy input, in order. Read from mne input.
    units : {"uV", "V", "mV"}, default="uV"
        Units of numpy input (MOABB gives µV). mne input is always in V.
    montage : str or mne.channels.DigMontage or None, default=None
        Electrode positions of numpy input's channels (mne input carries
        its own), used to interpolate the model's channels from montages
        whose names are not 10-20 names.
    missing_channels : {"interpolate", "zero"}, default="interpolate"
        How to fill channels the model needs but the data lacks: spherical
        spline interpolation (mne) or zeros.
    window_policy : {"crop", "pad", "split"}, default="crop"
        How windows become lengths the backbone accepts. ``"crop"``: cut
        each window's end down to an accepted length. ``"pad"``: pad each
        window at its end up to the next accepted length, and windows
        shorter than the model's minimum up to that minimum (see
        ``pad_mode``; ``describe_preprocessing()`` and ``n_real_samples_``
        say how much is real). ``"split"``: cut trials longer than the
        model's maximum (or ``max_window_seconds``) into consecutive
        sub-windows, run each through the backbone and pool the outputs
        back to one row per trial (``split_pooling``).
    model_kwargs : dict or None, default=None
        Overrides of the card's braindecode constructor kwargs (e.g. the
        card's ``tiny_kwargs`` for quick experiments).
    batch_size : int, default=64
        Windows per forward pass.
    device : str, default="cpu"
        Torch device (``"cuda"``, ``"cuda:1"``, ``"mps"``...).
    precision : {None, "bf16", "fp16"}, default=None
        Autocast dtype for the forward passes (and bf16 for training); None
        keeps float32. On CPU, bf16 is the useful one.
    compile : bool, default=False
        Run inference through ``torch.compile`` (compiled on first use;
        worth it for long recordings or many predictions on a GPU). If
        compiling fails, the model runs eagerly (same results) after one
        ``CompileWarning``.
    random_state : int or None, default=None
        Seeds weight initialisation and training (the global torch RNG is
        left untouched). Seeded sections run one at a time in the process
        (see :mod:`eegfm_sklearn.seeding`), so a seeded fit gives the same
        result alone or beside other fits in threads.
    verbose : int, default=0
        0: silent. 1: print the preprocessing steps and one line per
        fine-tuning epoch (skorch's table); on a terminal (or in Jupyter)
        also progress bars for the epochs' batches and for ``transform`` /
        ``predict`` over several batches. 2: the bars even when the output
        is not a terminal (log files).
    pad_mode : {"constant", "edge", "reflect"}, default="constant"
        How ``window_policy="pad"`` fills: zeros, the last sample
        repeated, or the window mirrored (``numpy.pad`` modes), after the
        card's scaling.
    max_window_seconds : float or None, default=None
        With ``window_policy="split"``: longest sub-window in seconds
        (below the model's maximum, e.g. to bound BENDR's cost, which grows
        with length). ``None``: the model's maximum.
    split_overlap : float, default=0.0
        With ``window_policy="split"``: overlap of consecutive sub-windows,
        a fraction in [0, 1), at most 0.99 (each sample in at most 100
        sub-windows). The last sub-window always ends with the trial.
        Sub-windows are cut and embedded ``batch_size`` at a time.
    split_pooling : {"mean", "max", "concat"}, default="mean"
        With ``window_policy="split"``: how the sub-windows' outputs become
        one row per trial (embeddings for the transformer, head outputs for
        the classifier and regressor, during fine-tuning and prediction;
        ``"concat"`` is for the transformer only).
"""

# Last in every signature (after the subclass's own params), so appended last: filters, n_threads.
FILTERS_PARAM_DOC = """
    filters : {"card", None}, default="card"
        ``"card"`` applies the model card's pretraining filters (e.g.
        LaBraM's 0.1-75 Hz band-pass and 50 Hz notch) at the input rate,
        before resampling: on a continuous ``mne.io.Raw`` before windowing,
        as ``raw.filter``/``raw.notch_filter`` would; on windows (numpy,
        ``mne.Epochs``) per window, with methods for a few seconds
        (detrending where a high-pass cannot act, mne's FIR low-pass,
        notch as a least-squares projection).
        ``describe_preprocessing()`` says which. ``None``: the data are
        already filtered as the checkpoint expects; nothing is filtered.
    n_threads : int or None, default=None
        Threads for this estimator's work (``fit``, ``transform``,
        ``predict``...): torch's intra-op threads and, through
        ``threadpoolctl``, the BLAS/OpenMP pools the adapter's numpy/scipy
        filters use, set for each call and put back afterwards. ``None``:
        torch's current setting (``torch.get_num_threads()``), which the
        native pools then follow too. Beside other busy processes (or
        cross-validation workers), 1 avoids threads waiting on each other.
"""


class FoundationEstimatorBase(BaseEstimator):
    """Shared machinery; not for direct use."""

    _parameter_constraints: dict = params.COMMON

    def __init__(self, model, *, weights=None, cache_dir=None, sfreq=None, ch_names=None, units="uV",
                 montage=None, missing_channels="interpolate", window_policy="crop", model_kwargs=None,
                 batch_size=64, device="cpu", precision=None, compile=False, random_state=None, verbose=0,
                 pad_mode="constant", max_window_seconds=None, split_overlap=0.0, split_pooling="mean",
                 filters="card", n_threads=None):
        self.model = model
        self.weights = weights
        self.cache_dir = cache_dir
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.units = units
        self.montage = montage
        self.missing_channels = missing_channels
        self.window_policy = window_policy
        self.model_kwargs = model_kwargs
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.pad_mode = pad_mode
        self.max_window_seconds = max_window_seconds
        self.split_overlap = split_overlap
        self.split_pooling = split_pooling
        self.filters = filters
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = True
        return tags


    def __sklearn_clone__(self):
        # The clone shares the record of warnings issued (see eegfm_sklearn._warn): the
        # folds of a cross-validation report each cause once, not once per fold.
        clone = super().__sklearn_clone__()
        clone.__dict__[ISSUED_ATTR] = self.__dict__.setdefault(ISSUED_ATTR, set())
        return clone

    def __sklearn_is_fitted__(self):
        # Defined here so tools that patch it onto steps (MOABB) leave ours picklable.
        return hasattr(self, "adapter_")

    # -- the fitted state, built in one place ----------------------------------
    def _resolve_weights(self):
        """The effective card (the checkpoint's contract applied) and the resolved weights (or None).

        Called once per ``fit`` / ``from_pretrained``; the card is kept as ``card_``.
        """
        card = get_model_card(self.model)
        if self.weights is None:
            return card, None
        from ..weights import resolve_weights

        resolved = resolve_weights(self.weights, card, cache_dir=self.cache_dir)
        return resolved.card, resolved

    @staticmethod
    def _contract_name(resolved):
        """Name of the registered checkpoint whose contract applies, if any."""
        if resolved is None:
            return None
        if resolved.checkpoint is not None:
            return resolved.checkpoint.name
        return (resolved.config or {}).get("checkpoint")

    def _set_fitted(self, info, fit_adapter, *, n_outputs=None, output=None, keep_head=None):
        """Build every fitted attribute of the input and backbone side.

        The one place shared by ``fit`` (``fit_adapter`` learns from the
        data) and ``from_pretrained`` (it restores saved statistics): the
        weights and the checkpoint's contract are resolved once, the
        adapter planned for ``info``, and, when ``n_outputs`` is given, the
        module built and loaded.

        Returns the resolved weights (None for random weights).
        """
        for attr in ("module_", "_compiled"):
            self.__dict__.pop(attr, None)
        params.check_combinations(self)
        card, resolved = self._resolve_weights()
        self.__dict__.setdefault(ISSUED_ATTR, set())  # created in fit: transform leaves __dict__ as it is
        with issued_by(self), self._threads():  # the adapter's ChannelWarnings: once per estimator and cause
            self.adapter_ = fit_adapter(self._make_adapter(card, info))
        self.recording_info_ = info
        self.n_features_in_ = len(info.ch_names)
        self.card_ = card
        self.contract_ = self._contract_name(resolved)
        self.weights_report_ = None
        if self.verbose:
            print(self.describe_preprocessing())
        if n_outputs is not None:
            self._build(resolved, n_outputs, output, keep_head=keep_head)
        return resolved

    def _prepare(self, X, **build):
        """Validate X and build the fitted state from it (``build``: see ``_set_fitted``).

        Returns the validated X (input units) and the resolved weights.
        """
        shape = getattr(X, "shape", None)
        if self.sfreq is not None and shape is not None and len(shape) == 3:
            # before validation copies the data (float64): a window of hours is refused by its shape
            card = get_model_card(self.model)
            check_window_length(card, float(self.sfreq), int(shape[-1]), self.window_policy,
                                self.max_window_seconds)
        with issued_by(self):  # UnitsWarning: once per estimator and cause
            X, info = check_eeg_input(self, X, sfreq=self.sfreq, ch_names=self.ch_names,
                                      units=self.units, reset=True, montage=self.montage)
        return X, self._set_fitted(info, lambda adapter: adapter.fit(X), **build)

    def _make_adapter(self, card, info):
        """The (unfitted) adapter from ``info``'s input to ``card``, with this estimator's policies."""
        return InputAdapter(card, info.sfreq, info.ch_names, info.units, missing=self.missing_channels,
                            window_policy=self.window_policy, positions=info.positions, pad_mode=self.pad_mode,
                            max_window_seconds=self.max_window_seconds, split_overlap=self.split_overlap,
                            filters=self.filters)

    @property
    def n_real_samples_(self):
        """Samples of each backbone window that are data, not padding (at the model's rate)."""
        check_is_fitted(self, "adapter_")
        return self.adapter_.n_real_samples_

    def _pool(self, out):
        """One row per trial from the backbone's rows (sub-windows of split trials are pooled)."""
        return self.module_.pool_trials(out, self.adapter_.n_sub_)

    def _build(self, resolved, n_outputs, output, keep_head=None):
        """Build ``module_`` (seeded) for the planned input and load the weights."""
        adapter = self.adapter_
        build_args = {
            "n_chans": self.card_.n_input_channels(len(adapter.report_.slots)),
            "n_times": adapter.n_times_out_,
            "n_outputs": n_outputs,
            "model_kwargs": self.model_kwargs,
        }
        with seeded(self.random_state, self.device), dependency_notices_filtered(self.card_.quiet_warnings):
            # Built from the effective card, whose post_build (if any) is applied here, once.
            module = CardModule(self.card_, build_args, adapter.report_.slots, output=output,
                                slot_positions=adapter.slot_positions_, split_pooling=self.split_pooling)
        self.module_ = module
        self.weights_report_ = self._load_weights(resolved, self._keep_head if keep_head is None else keep_head)
        self.module_.to(self.device)
        return self.module_

    def _load_weights(self, resolved, keep_head):
        if resolved is None:
            return None
        from ..weights import load_into_module

        return load_into_module(self.module_.backbone, resolved, keep_head=keep_head)

    _keep_head = False  # fine-tuned estimators expose it as a param

    def _validate(self, X):
        """Validate X for a fitted estimator (values in input units)."""
        check_is_fitted(self, "adapter_")
        with issued_by(self):
            X, _ = check_eeg_input(self, X, sfreq=self.sfreq, ch_names=self.ch_names, units=self.units,
                                   reset=False, fitted_info=self.recording_info_)
        return X

    def _forward(self, X):
        return self._adapt_and_forward(self._validate(X))

    def _adapt_and_forward(self, X, prefiltered=False):
        """Adapt and forward validated windows, batch by batch.

        On an accelerator, the next batch is adapted in a background thread
        while the device computes the current one. On CPU the forward already
        keeps torch's intra-op threads busy, so a concurrent adapter only
        contends for the same cores (measured: 0.86x of the raw forward with
        the thread, 0.97x without); batches are adapted in turn instead.
        """
        module, size = self._inference_module(), max(int(self.batch_size), 1)
        if self.adapter_.n_sub_ > size:  # split trials of more sub-windows than a batch: a batch at a time
            return check_finite_outputs(self._forward_long_trials(X, prefiltered, module, size))
        trials = max(1, size // self.adapter_.n_sub_)  # split trials: about `size` windows per batch
        batches = iter(progress((X[start : start + trials] for start in range(0, len(X), trials)),
                                total=-(-len(X) // trials), verbose=self.verbose, desc=self.card_.name))
        adapt = partial(self.adapter_.transform, prefiltered=prefiltered)
        forward = partial(predict_batches, module, batch_size=size, device=self.device,
                          precision=self.precision)
        with dependency_notices_filtered(self.card_.quiet_warnings), self._threads():
            if not self._overlap_adapter():
                return check_finite_outputs(np.concatenate([self._pool(forward(adapt(b))) for b in batches]))
            outs = []
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(adapt, next(batches))
                for batch in batches:
                    Xt, pending = pending.result(), pool.submit(adapt, batch)
                    outs.append(self._pool(forward(Xt)))
                outs.append(self._pool(forward(pending.result())))
        return check_finite_outputs(np.concatenate(outs, axis=0))

    def _threads(self):
        """Torch's and the native (BLAS/OpenMP) thread pools sized to ``n_threads`` for a block."""
        return limited_threads(getattr(self, "n_threads", None))  # estimators pickled before the param

    def _forward_long_trials(self, X, prefiltered, module, size):
        """One row per trial, its sub-windows cut, adapted and forwarded ``size`` at a time (bounded memory)."""
        parts = [slice(a, a + size) for a in range(0, self.adapter_.n_sub_, size)]
        rows = []
        with dependency_notices_filtered(self.card_.quiet_warnings), self._threads():
            for i in progress(range(len(X)), total=len(X), verbose=self.verbose, desc=self.card_.name):
                outs = [predict_batches(module, self.adapter_.transform(X[i : i + 1], prefiltered, part), size,
                                        self.device, self.precision) for part in parts]
                rows.append(self._pool(np.concatenate(outs)))
        return np.concatenate(rows)

    def _overlap_adapter(self):
        """Adapt the next batch in a background thread (accelerators only)."""
        return torch.device(self.device).type != "cpu"

    def _module(self):
        """The fitted module (estimators that build it lazily override this)."""
        return self.module_

    def _inference_module(self):
        """The module for predictions, compiled on first use when ``compile``.

        A failure to compile (when wrapping or at a call) falls back to the eager module,
        with one ``CompileWarning`` per estimator and cause.
        """
        if not self.compile:
            return self._module()
        # Kept out of pickles (see __getstate__): compiled graphs are process-local.
        if self.__dict__.get("_compiled") is None:
            self._compiled = CompiledOrEager(self._module(), self._compile_failed)
        return self._compiled

    def _compile_failed(self, exc):
        with issued_by(self):
            warn(f"compile=True: torch.compile failed for {self.card_.name} ({type(exc).__name__}: "
                 f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); running the "
                 "model eagerly (same results as compile=False). Set compile=False to silence this.",
                 CompileWarning, cause=("compile", self.card_.name, type(exc).__name__))

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled", None)
        return state

    # -- fitted views -----------------------------------------------------
    @property
    def backbone_(self):
        """The braindecode torch module (fitted estimators only)."""
        check_is_fitted(self, "adapter_")
        return self._module().backbone

    @property
    def channel_report_(self):
        """Per-slot record of how each backbone channel was obtained."""
        check_is_fitted(self, "adapter_")
        return self.adapter_.report_

    # -- persistence --------------------------------------------------------
    def save_pretrained(self, directory):
        """Write the fitted estimator as ``config.json`` + ``model.safetensors``.

        ``Cls.from_pretrained(directory)`` restores it with identical
        outputs; ``weights=directory`` starts a new estimator from its
        backbone (and head, with ``keep_head=True``).

        Parameters
        ----------
        directory : str or Path
            Target folder, created (with its parents) if needed; files of
            the same names in it are overwritten.

        Returns
        -------
        directory : Path
            The folder written.
        """
        from .persist import save_estimator

        return save_estimator(self, directory)

    @classmethod
    def from_pretrained(cls, directory):
        """Restore a fitted estimator written by :meth:`save_pretrained`.

        Parameters
        ----------
        directory : str or Path
            Folder written by ``save_pretrained`` of the same class.

        Returns
        -------
        estimator : fitted instance of ``cls``
            With the saved params, adapter statistics and weights: its
            outputs equal those of the estimator that was saved.
        """
        from .persist import load_estimator

        return load_estimator(cls, directory)

    def _fitted_state(self) -> dict:
        """JSON-able learned attributes besides the module and the adapter."""
        return {}

    def _set_fitted_state(self, state):
        for key, value in state.items():
            setattr(self, key, np.asarray(value) if isinstance(value, list) else value)

    def _describe_memory(self):
        ad, size = self.adapter_, max(int(self.batch_size), 1)
        # what _adapt_and_forward adapts at once: size // n_sub whole trials, or size sub-windows of one
        working = (ad.working_bytes(max(1, size // ad.n_sub_)) if ad.n_sub_ <= size
                   else ad.working_bytes(1, n_sub=size))
        window = (len(ad.report_.slots) + self.card_.scaling.n_extra_channels) * ad.n_times_out_ * 4
        per_trial = "" if ad.n_sub_ == 1 else f" ({ad.n_sub_} sub-windows per trial)"
        return (f"one adapted window is {_bytes(window)} (float32); transform and predict adapt and forward "
                f"about batch_size={size} windows at a time{per_trial}: adapting them holds at most "
                f"{_bytes(working)} besides a float32 input (the model's activations come on top)")

    def describe_preprocessing(self) -> str:
        """Describe what the adapter does to the input, one step per line.

        Returns
        -------
        description : str
            A first line naming the model and the input seen in ``fit``
            (rate, channel count, units), then one ``"  - "`` line per
            step of the adapter (``adapter_.steps_``), in order, the memory
            adapting a batch holds (an upper bound, in bytes:
            ``adapter_.working_bytes``), and how the model compares with its
            authors' code (the card's ``parity``).
        """
        check_is_fitted(self, "adapter_")
        lines = [f"{self.card_.name}: input {self.recording_info_.sfreq:g} Hz, "
                 f"{len(self.recording_info_.ch_names)} channels, {self.recording_info_.units}"]
        lines += [f"  - {step}" for step in self.adapter_.steps_]
        lines.append(f"  - memory: {self._describe_memory()}")
        lines.append(f"  - parity: {self.card_.parity or 'not checked'}")
        return "\n".join(lines)


def _bytes(n):
    """Bytes as a short human number (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
