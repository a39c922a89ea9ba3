"""The model card: every fact about one pretrained model, in one place.

Generic code (adapter, weights, estimators) asks a card; it never branches
on a model's name. Cards hold data and small per-model functions (builders,
converters of the authors' layouts, forward hooks); they import neither
torch nor braindecode at import time, so listing models is cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, NamedTuple

from ..preprocessing.channels import STANDARD_19, ChannelScheme
from ..preprocessing.filter_spec import FilterSpec
from ..preprocessing.scaling import Scaling


class StandardPlan(NamedTuple):
    """What :meth:`ModelCard.plan_standard` planned for a list of channel names."""

    slots: tuple
    positions: Any
    n_chans: int
    n_times: int


@dataclass(frozen=True)
class WindowSpec:
    """Window lengths (in samples at the card's rate) a backbone accepts.

    Parameters
    ----------
    multiple : int
        Usable lengths are multiples of this (e.g. LaBraM's 200-sample patch).
    min_samples : int
        Shortest usable window.
    max_samples : int or None
        Longest usable window (e.g. bounded by a learned temporal embedding).
    """

    multiple: int = 1
    min_samples: int = 1
    max_samples: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    """One known pretrained checkpoint and the contract it was trained with.

    Parameters
    ----------
    name : str
        Registry name users pass as ``weights=`` (e.g. ``"labram-base"``).
    source : str
        ``"hub"`` (a braindecode-layout Hugging Face repo) or ``"original"``
        (the authors' release, converted on load).
    repo_id : str or None
        Hugging Face repository holding the file(s).
    filenames : tuple of str
        File name(s) inside the repository or release.
    sha256 : mapping or None
        Expected SHA-256 per file name, where known.
    fmt : str
        Name of the on-disk key layout: ``"braindecode"`` or one of the
        card's ``weight_formats``.
    card_overrides : mapping
        Card fields this checkpoint changes (channel scheme, build kwargs,
        window...), so the adapter applies the checkpoint's own contract.
    url : str or None
        Where the original release can be obtained by hand.
    notes : str
        Anything a user should know (training data, window length).
    input_shape : tuple of (int, int) or None
        ``(n_chans, n_times)`` the released module was built with (its
        tensors' shapes follow from it); None where any input fits.
    """

    name: str
    source: str
    repo_id: str | None = None
    filenames: tuple[str, ...] = ()
    sha256: Mapping[str, str] | None = None
    fmt: str = "braindecode"
    card_overrides: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    notes: str = ""
    input_shape: tuple[int, int] | None = None


@dataclass(frozen=True)
class ModelCard:
    """Facts about one foundation model and how to build its backbone.

    Parameters
    ----------
    name : str
        Registry name, lower case (``"labram"``).
    module_path : str
        Dotted path of the braindecode class, imported lazily.
    sfreq : float
        Sampling rate (Hz) the backbone expects.
    channels : ChannelScheme
        Fixed ordered list, bipolar pairs, or a name vocabulary.
    scaling : Scaling
        Units conversion and per-window normalisation, applied to µV input.
    window : WindowSpec
        Accepted window lengths, in samples at ``sfreq``.
    embedding_size : int
        Size of the pooled embedding with ``build_kwargs``. Where the
        default pooling is ``"flatten"`` (braindecode's head reads every
        token) the width grows with channels and window: this is then its
        width at the card's minimum window with the 19 10-20 channels.
    build_kwargs : mapping
        Constructor kwargs of the full-size architecture (besides
        ``n_chans``, ``n_times``, ``n_outputs``, ``sfreq``).
    tiny_kwargs : mapping
        Overrides giving a tiny architecture for fast tests.
    features : callable
        ``features(output_dict) -> Tensor (n, n_features)``: pooling of the
        dict returned by ``module(x, return_features=True)``.
    features_of : callable or None
        ``features_of(module, x, **forward_kwargs) -> Tensor (n,
        n_features)``: the pooled features computed from the module
        directly, for backbones whose ``forward`` has no
        ``return_features`` (e.g. a hook on the layer before the head);
        when set, ``features`` is not used. ``None``: use ``features``.
    forward_kwargs : callable or None
        ``forward_kwargs(slots, positions) -> dict``: keyword arguments the
        backbone's ``forward`` needs besides ``x`` (LaBraM's ``ch_names``).
        ``slots`` are the backbone's channel names, ``positions`` an array
        (n_slots, 3) of head-frame positions in metres, or None.
    build_extra : callable or None
        ``build_extra(slots, positions) -> dict``: constructor kwargs that
        depend on the channels (``chs_info`` for position-aware models).
    uses_positions : bool
        Whether ``forward_kwargs``/``build_extra`` need electrode positions
        (the adapter then resolves one per slot, or says which is missing).
    head_prefixes : tuple of str
        State-dict prefixes of the task head (re-initialised per task).
    checkpoints : tuple of Checkpoint
        Known pretrained checkpoints.
    weight_formats : tuple of WeightFormat
        The authors' own on-disk layouts and their converters (braindecode's
        layout is always accepted besides these).
    post_build : callable or None
        ``f(module) -> module`` applied after building, for checkpoints
        whose architecture differs slightly from braindecode's (BENDR's
        authors' form); must be idempotent.
    truncatable : mapping of str to int
        Learned position tables that may be cut to the module's length
        along the given dim (LaBraM's 16-row ``temporal_embedding`` for
        shorter windows: the first rows are the first positions).
    safe_globals : tuple of type
        Plain-data classes the authors' pickles carry beside tensors,
        allowed when reading them code-free (LaBraM's ``argparse.Namespace``).
    filters : FilterSpec or None
        The filters the pretraining data went through.
    quiet_warnings : tuple of (type of Warning, str)
        ``(category, message regex)`` of notices the braindecode module
        raises that the user cannot act on (BIOT's STFT window default);
        filtered around the calls that build and run models.
    no_weights_reason : str
        For architectures with no published checkpoint: why (shown when
        ``weights=`` names one).
    notes : str
        Free-text facts worth showing users.
    parity : str
        How the card's features compare with the authors' own model code,
        one short line for the model table: ``"exact vs the authors' code
        @ <repo>@<commit>"`` (a fixture in ``tests/parity/`` proves it),
        ``"differs: <why>"`` or ``"not checked: <why>"``. Empty: not
        checked yet.
    tokens : callable or None
        ``tokens(module, x, **forward_kwargs) -> {"tokens": Tensor (n,
        n_tokens, dim), "cls": Tensor (n, dim) or None}``: the backbone's
        output tokens before pooling, used by pooling heads other than the
        default. ``None``: only ``default_pooling`` is available.
    default_pooling : str
        The pooling braindecode's own head uses (``features`` returns it).
    poolings : tuple of str
        Poolings the backbone supports, among ``"cls"`` (CLS/start token),
        ``"mean"`` (mean over tokens), ``"flatten"`` and ``"attentive"``.
    block_path : str or None
        Dotted path of the ``ModuleList`` (or ``Sequential``) of transformer blocks, in depth
        order (partial unfreezing and layer-wise learning-rate decay).
    depth_kwarg : str or None
        Constructor kwarg setting the number of blocks (``model_kwargs``
        overrides it for smaller or truncated backbones); None if the
        architecture has no such knob.
    stem_prefixes : tuple of str
        Parameter-name prefixes of what runs before the blocks (patch
        embedding, positional embeddings...). Parameters outside the stem,
        the blocks and the head are the "neck" (final norm, projections).
    lora_targets : tuple of str
        Name suffixes of the ``nn.Linear`` modules peft adapts (LoRA, DoRA,
        IA3...). Only layers called as modules qualify: a layer whose
        weight is read by ``F.linear`` would silently ignore its adapter.
    feedforward_targets : tuple of str
        The subset of ``lora_targets`` that are feed-forward layers (IA3
        scales their input rather than their output).
    """

    name: str
    module_path: str
    sfreq: float
    channels: ChannelScheme
    scaling: Scaling
    window: WindowSpec
    embedding_size: int
    build_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tiny_kwargs: Mapping[str, Any] = field(default_factory=dict)
    features: Callable[[Mapping[str, Any]], Any] | None = None
    features_of: Callable[..., Any] | None = None
    forward_kwargs: Callable[..., Mapping[str, Any]] | None = None
    build_extra: Callable[..., Mapping[str, Any]] | None = None
    uses_positions: bool = False
    head_prefixes: tuple[str, ...] = ("final_layer.",)
    checkpoints: tuple[Checkpoint, ...] = ()
    weight_formats: tuple[Any, ...] = ()
    post_build: Callable | None = None
    truncatable: Mapping[str, int] = field(default_factory=dict)
    safe_globals: tuple[type, ...] = ()
    filters: FilterSpec | None = None
    quiet_warnings: tuple[tuple[type, str], ...] = ()
    no_weights_reason: str = ""
    notes: str = ""
    parity: str = ""
    tokens: Callable[..., Mapping[str, Any]] | None = None
    default_pooling: str = "default"
    poolings: tuple[str, ...] = ("default",)
    block_path: str | None = None
    depth_kwarg: str | None = None
    stem_prefixes: tuple[str, ...] = ()
    lora_targets: tuple[str, ...] = ()
    feedforward_targets: tuple[str, ...] = ()

    @property
    def module_class(self):
        """The braindecode class (imported on first use)."""
        from ..utils._warn import import_braindecode

        import_braindecode()  # braindecode's import-time notices filtered, here rather than at our import
        module_name, _, cls_name = self.module_path.rpartition(".")
        return getattr(importlib.import_module(module_name), cls_name)

    def get_checkpoint(self, name: str) -> Checkpoint:
        """Return the checkpoint registered under ``name``.

        Parameters
        ----------
        name : str
            A checkpoint name of this card (see ``checkpoints``).

        Returns
        -------
        checkpoint : Checkpoint
            The registered checkpoint; ``KeyError`` (listing the known
            names) when there is none of that name.
        """
        for ckpt in self.checkpoints:
            if ckpt.name == name:
                return ckpt
        known = [c.name for c in self.checkpoints]
        raise KeyError(f"{self.name!r} has no checkpoint {name!r}; known: {known}")

    def for_checkpoint(self, ckpt: Checkpoint) -> "ModelCard":
        """Apply a checkpoint's own contract to this card.

        Parameters
        ----------
        ckpt : Checkpoint
            Its ``card_overrides`` replace the card's fields
            (``build_kwargs`` are merged into the card's, not replaced).

        Returns
        -------
        card : ModelCard
            A new card; this one is left unchanged.
        """
        overrides = dict(ckpt.card_overrides)
        if "build_kwargs" in overrides:
            overrides["build_kwargs"] = {**self.build_kwargs, **overrides["build_kwargs"]}
        return replace(self, **overrides)

    @property
    def status(self) -> str:
        """``"weights available"`` or ``"architecture only"``."""
        return "weights available" if self.checkpoints else "architecture only"

    def n_input_channels(self, n_slots) -> int:
        """Count the channels of the backbone's input for ``n_slots`` planned slots.

        Parameters
        ----------
        n_slots : int
            Slots of the card's channel scheme filled by the adapter.

        Returns
        -------
        n_chans : int
            ``n_slots`` plus the channels the card's scaling appends (e.g. BENDR's SCALE).
        """
        return n_slots + self.scaling.n_extra_channels

    def typical_n_times(self) -> int:
        """Return a window length the card accepts: twice its minimum, on its multiple, within its maximum.

        Returns
        -------
        n_times : int
            Samples at the card's rate.
        """
        w = self.window
        n = max(w.min_samples * 2, w.multiple) // w.multiple * w.multiple
        return min(n, w.max_samples // w.multiple * w.multiple) if w.max_samples else n

    def plan_standard(self, names=STANDARD_19, input_shape=None, n_times=None):
        """Slots, positions and input shape of the module for channels ``names``.

        Parameters
        ----------
        names : sequence of str, default=STANDARD_19
            The recording's channels (template positions are used).
        input_shape : tuple of int or None, default=None
            ``(n_chans, n_times)`` a checkpoint was released with; None for the
            card's own size (the planned slots, ``n_times``).
        n_times : int or None, default=None
            Window length without ``input_shape``; None for :meth:`typical_n_times`.

        Returns
        -------
        plan : StandardPlan
            ``slots`` (tuple of str), ``positions`` (ndarray of shape (n_slots, 3)
            or None), ``n_chans`` and ``n_times``.
        """
        from ..preprocessing.montage import plan_channels, slot_positions

        report = plan_channels(self.channels, list(names)).report
        slots = report.slots
        positions = slot_positions(self, report) if self.uses_positions else None
        n_chans, n_times = self.n_input_channels(len(slots)), n_times or self.typical_n_times()
        if input_shape is not None:
            n_chans, n_times = input_shape
            if self.n_input_channels(len(slots)) != n_chans and self.channels.fills_missing():
                slots = tuple(self.channels.slots(list(names)))  # the release's full slot set
        return StandardPlan(tuple(slots), positions, int(n_chans), int(n_times))

    def build_standard_module(self, n_outputs=2, model_kwargs=None, names=STANDARD_19, input_shape=None,
                              n_times=None):
        """Build the module for channels ``names`` (the 19 10-20 channels by default).

        Parameters
        ----------
        n_outputs : int, default=2
            Size of the head's output.
        model_kwargs : dict or None, default=None
            Overrides of ``build_kwargs``.
        names : sequence of str, default=STANDARD_19
            The channels the module is built for.
        input_shape : tuple of int or None, default=None
            See :meth:`plan_standard`.
        n_times : int or None, default=None
            See :meth:`plan_standard`.

        Returns
        -------
        module : torch.nn.Module
            Randomly initialised.
        plan : StandardPlan
            What it was built for.
        """
        plan = self.plan_standard(names, input_shape, n_times)
        module = self.build_module(plan.n_chans, plan.n_times, n_outputs, model_kwargs,
                                   slots=plan.slots, positions=plan.positions)
        return module, plan

    def build_module(self, n_chans, n_times, n_outputs, model_kwargs=None, slots=None, positions=None):
        """Build the braindecode module for the given input/output sizes.

        Parameters
        ----------
        n_chans : int
            Number of input channels (after the adapter).
        n_times : int
            Number of samples per window (after the adapter).
        n_outputs : int
            Size of the head's output.
        model_kwargs : dict or None
            Overrides of ``build_kwargs`` (e.g. ``tiny_kwargs``).
        slots : sequence of str or None
            Channel names of the backbone's input (for ``build_extra``).
        positions : ndarray of shape (n_slots, 3) or None
            Their head-frame positions (m), for ``build_extra``.

        Returns
        -------
        module : torch.nn.Module
            The braindecode model, randomly initialised.
        """
        kwargs = {**self.build_kwargs, **(model_kwargs or {})}
        if self.build_extra is not None:
            kwargs.update(self.build_extra(slots, positions))
        module = self.module_class(
            n_chans=n_chans,
            n_times=n_times,
            n_outputs=n_outputs,
            sfreq=self.sfreq,
            **kwargs,
        )
        return module if self.post_build is None else self.post_build(module)

    def extract_features(self, module, x, **forward_kwargs):
        """Compute pooled features of ``x`` through a module built from this card.

        Parameters
        ----------
        module : torch.nn.Module
            A module from :meth:`build_module`.
        x : torch.Tensor, shape (n, n_chans, n_times)
            Adapted windows.
        **forward_kwargs
            Passed to the module's ``forward`` (see :meth:`forward_kwargs_for`).

        Returns
        -------
        features : torch.Tensor, shape (n, n_features)
            From ``features_of`` when the card sets it, else ``features``
            applied to ``module(x, return_features=True)``.
        """
        if self.features_of is not None:
            return self.features_of(module, x, **forward_kwargs)
        return self.features(module(x, return_features=True, **forward_kwargs))

    def forward_kwargs_for(self, slots, positions=None) -> dict:
        """Return the keyword arguments of ``forward`` for these slots.

        Parameters
        ----------
        slots : sequence of str
            The backbone's channel names.
        positions : ndarray of shape (n_slots, 3) or None, default=None
            Their head-frame positions in metres.

        Returns
        -------
        kwargs : dict
            ``forward_kwargs(slots, positions)`` of the card; empty when the
            card has none.
        """
        return {} if self.forward_kwargs is None else dict(self.forward_kwargs(slots, positions))

    @property
    def embedding_grows_with_input(self) -> bool:
        """Whether the default embedding's width depends on the channel count and window length."""
        return self.default_pooling == "flatten"

    def describe_embedding(self) -> str:
        """Describe the embedding size in words: fixed, or how it depends on the input's shape.

        Returns
        -------
        text : str
            One sentence.
        """
        if not self.embedding_grows_with_input:
            return f"{self.embedding_size} (fixed)"
        fixed = " pooling='mean' gives a fixed width;" if "mean" in self.poolings else ""
        return (f"{self.embedding_size} for the card's reference input only: the default pooling 'flatten' "
                f"grows with the channel count and the window length;{fixed} fit a FoundationTransformer "
                "and read embedding_size_ for yours")

    def __str__(self):
        """A readable summary (``repr`` keeps every field)."""
        w = self.window
        window = (f">= {w.min_samples} samples ({w.min_samples / self.sfreq:.2f} s)"
                  + (f", <= {w.max_samples} ({w.max_samples / self.sfreq:.2f} s)" if w.max_samples else "")
                  + (f", a multiple of {w.multiple}" if w.multiple > 1 else ""))
        rows = [
            ("status", self.status + (f" ({self.no_weights_reason})" if self.no_weights_reason else "")),
            ("checkpoints", ", ".join(c.name for c in self.checkpoints) or "none"),
            ("module", self.module_path),
            ("rate", f"{self.sfreq:g} Hz"),
            ("channels", self.channels.describe()),
            ("scaling", self.scaling.describe()),
            ("filters", self.filters.describe() if self.filters else "none"),
            ("window", window),
            ("embedding", self.describe_embedding()),
            ("poolings", ", ".join(self.poolings) + f" (default {self.default_pooling})"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join([f"ModelCard {self.name!r}"] + [f"  {k:<{width}}  {v}" for k, v in rows])

    def summary(self) -> dict:
        """Summarise the card as a plain dict (for tables and docs).

        Returns
        -------
        summary : dict
            Keys ``name``, ``module``, ``sfreq``, ``channels``, ``scaling``,
            ``window``, ``embedding_size``, ``filters``, ``status``,
            ``parity`` and ``checkpoints`` (a list of checkpoint names).
        """
        return {
            "name": self.name,
            "module": self.module_path,
            "sfreq": self.sfreq,
            "channels": self.channels.describe(),
            "scaling": self.scaling.describe(),
            "window": self.window,
            "embedding_size": self.embedding_size,
            "filters": self.filters.describe() if self.filters else "none",
            "status": self.status,
            "parity": self.parity or "not checked",
            "checkpoints": [c.name for c in self.checkpoints],
        }
