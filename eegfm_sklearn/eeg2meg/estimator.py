"""scikit-learn regressor around the EEG->MEG networks (one per ``mode``), trained with skorch.

It uses the core's services: parameter validation (``_parameter_constraints``
checked by ``_fit_context``), seeding (:func:`eegfm_sklearn.seeding.seeded`),
the batched inference loop (:func:`eegfm_sklearn.backbone.predict_batches`)
and, like the core estimators, keeps the trained module, never the skorch net.
The network comes from :func:`.networks.build_network`; the folder layout is
:mod:`.persist`'s.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from ..backbone import predict_batches
from ..estimators.persist import jsonable_params
from ..utils.seeding import seeded
from ..validation import check_finite_outputs
from . import params, persist
from ._validation import channel_stats, check_eeg, check_pair
from .baselines import init_linear_path
from .networks import build_network, network_class, network_defaults, network_params
from .scoring import EEG2MEGScoreMixin
from .training import train_network


class EEGToMEGRegressor(EEG2MEGScoreMixin, RegressorMixin, BaseEstimator):
    """Predict MEG windows from EEG windows with a two-stage-attention transformer.

    EEG and MEG are standardised per channel inside ``fit``, so pass raw SI
    units (V, T, T/m); ``predict`` returns the original MEG units.

    Parameters
    ----------
    mode : str, default="continuous"
        Network family (see :func:`eegfm_sklearn.eeg2meg.networks.network_modes`):
        ``"continuous"`` is the segment-token encoder-decoder trained on the
        MSE of standardised MEG; ``"tokens"`` is the Brainformer design (one
        µ-law token per sample and channel, cross-entropy, autoregressive
        generation; :class:`~eegfm_sklearn.eeg2meg.brainformer.BrainformerNetwork`,
        whose reference configuration is ``brainformer.REFERENCE_CONFIG``).
        The parameters a mode's network does not take are ignored by it.
    seg_len : int, default=10
        Samples per segment token.
    d_model : int, default=64
        Token width.
    n_heads : int, default=4
        Attention heads.
    n_encoder_layers : int, default=2
        Two-stage attention layers over EEG tokens.
    n_decoder_layers : int, default=1
        Decoder layers over MEG tokens (self two-stage attention + cross-attention).
    n_routers : int or None, default=None
        Router vectors of the channel-wise attention stage (per time position
        in ``mode="tokens"``). None: the mode's network default, 4 for
        ``"continuous"`` and 10 for ``"tokens"`` (the Brainformer reference).
    d_ff : int or None, default=None
        Feed-forward hidden width (None: ``2 * d_model``).
    dropout : float, default=0.0
        Dropout rate.
    linear_skip : bool, default=True
        Add a linear spatio-temporal EEG->MEG path to the network's output,
        initialised with the cross-validated lagged ridge solution on the
        training data; the transformer (whose output layer starts at zero)
        learns the residual: longer context, non-linear and non-stationary
        structure. False trains the pure transformer from scratch (it then
        needs much more data and epochs to reach the linear baselines).
    skip_lags : int, default=6
        Lags (samples) on each side of the linear path.
    patch_context : int or None, default=None
        ``mode="continuous"``: samples on each side of a segment that its
        token also embeds (overlapping patches); None: ``seg_len // 2``.
    drop_path : float, default=0.0
        ``mode="continuous"``: stochastic depth, the probability that an
        encoder or decoder layer's whole update is dropped for a window
        during training (kept updates scaled by ``1 / (1 - drop_path)``).
        With ``linear_skip=False`` it makes the linear route of the network
        carry the map on its own part of the time.
    clip_percentile : float, default=99.5
        ``mode="tokens"``: a channel's clamp for the µ-law is this percentile
        of ``|x - median|`` over the training windows.
    autoregressive : bool, default=False
        ``mode="tokens"``: False predicts every MEG token from the EEG alone
        in one pass (no past MEG tokens fed back: no exposure bias, ~100x
        faster prediction); True is the reference's design (teacher forcing
        in training, step-by-step generation with cached keys and values).
    stem_lags : int, default=4
        ``mode="tokens"``: the decoder's stream starts as a learned linear mix
        of the EEG token embeddings of steps ``t - stem_lags .. t + stem_lags``.
    target_sigma : float, default=0.0
        ``mode="tokens"``: the training target, in µ-law level widths. 0 is
        plain cross-entropy against the true token (levels are unordered
        classes to it: a near miss costs as much as a far one); ``> 0`` is
        cross-entropy against a normal distribution of that standard
        deviation centred on the true level and integrated over the levels
        (the "HL-Gauss" histogram loss), which rewards probability on levels
        near the true one. ``token_cross_entropy`` scores the true tokens
        either way.
    decoding : {"expected", "greedy", "temperature", "top_k"}, default="expected"
        ``mode="tokens"``: "expected" predicts the mean of each step's decoded
        distribution over levels (the least-squares estimate); "greedy" its
        most likely level; the others sample.
    decoding_temperature : float, default=1.0
        ``mode="tokens"``: softmax temperature of the sampling strategies.
    decoding_top_k : int or None, default=None
        ``mode="tokens"``: tokens kept by ``decoding="top_k"``.
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=32
        Windows per optimisation step.
    lr : float, default=2e-3
        Peak AdamW learning rate (cosine-annealed to 0 over ``max_epochs``).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    early_stopping : bool, default=False
        Hold out the *last* ``validation_fraction`` of the windows (a
        contiguous block, as given: windows cut consecutively from a
        recording have near-copies as neighbours, so no random draw), record
        the mode's loss on them after every epoch (``history_``'s
        ``valid_loss``), stop after ``n_iter_no_change`` epochs without a
        lower one and keep the weights of the best epoch. The held-out
        windows are not trained on. Order the windows so that the last block
        is representative (e.g. the end of every recording).
    validation_fraction : float, default=0.1
        Share of the windows held out when ``early_stopping``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    random_state : int or None, default=None
        Seeds weight initialisation, batch order and the sampling of
        ``predict`` with ``decoding`` "temperature"/"top_k" (torch's global
        RNG is left untouched; see :mod:`eegfm_sklearn.seeding`).
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        The skorch net's verbosity (1 prints the loss per epoch).

    Attributes
    ----------
    module_ : EEGToMEGNetwork
        The trained network (:class:`EEGToMEGTransformer` for
        ``mode="continuous"``); its buffers hold the channel statistics.
    history_ : skorch.History or None
        Training history (None after :meth:`from_pretrained`): per epoch
        ``train_loss``, ``grad_norm``, ``dur`` and, with ``early_stopping``,
        ``valid_loss``.
    x_mean_, x_scale_ : ndarray, shape (n_eeg,)
        EEG channel statistics.
    y_mean_, y_scale_ : ndarray, shape (n_meg,)
        MEG channel statistics.
    n_eeg_channels_, n_meg_channels_ : int
        Channel counts seen in ``fit``.
    n_features_in_ : int
        ``n_eeg_channels_`` under scikit-learn's name.
    """

    _parameter_constraints: dict = params.REGRESSOR

    def __init__(
        self,
        mode="continuous",
        seg_len=10,
        d_model=64,
        n_heads=4,
        n_encoder_layers=2,
        n_decoder_layers=1,
        n_routers=None,
        d_ff=None,
        dropout=0.0,
        linear_skip=True,
        skip_lags=6,
        patch_context=None,
        drop_path=0.0,
        clip_percentile=99.5,
        autoregressive=False,
        stem_lags=4,
        target_sigma=0.0,
        decoding="expected",
        decoding_temperature=1.0,
        decoding_top_k=None,
        max_epochs=30,
        batch_size=32,
        lr=2e-3,
        weight_decay=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.mode = mode
        self.seg_len = seg_len
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_encoder_layers = n_encoder_layers
        self.n_decoder_layers = n_decoder_layers
        self.n_routers = n_routers
        self.d_ff = d_ff
        self.dropout = dropout
        self.linear_skip = linear_skip
        self.skip_lags = skip_lags
        self.patch_context = patch_context
        self.drop_path = drop_path
        self.clip_percentile = clip_percentile
        self.autoregressive = autoregressive
        self.stem_lags = stem_lags
        self.target_sigma = target_sigma
        self.decoding = decoding
        self.decoding_temperature = decoding_temperature
        self.decoding_top_k = decoding_top_k
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = False
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y):
        """Train on paired windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
            EEG windows in volts.
        Y : array-like, shape (n_windows, n_meg, n_times_out)
            MEG windows (T, T/m) covering the same time spans as ``X``.

        Returns
        -------
        self : EEGToMEGRegressor
            The fitted regressor.
        """
        X, Y = check_pair(X, Y)
        x_mean, x_scale = channel_stats(X)
        y_mean, y_scale = channel_stats(Y)
        Xs = ((X - x_mean[:, None]) / x_scale[:, None]).astype(np.float32)
        Ys = ((Y - y_mean[:, None]) / y_scale[:, None]).astype(np.float32)
        with seeded(self.random_state, self.device):
            network = build_network(self.mode, **self._network_kwargs(X, Y))
            network.check_windows(X.shape[2], Y.shape[2])
            network.prepare(Xs, Ys)
            init_linear_path(network, Xs, Ys)
            history = train_network(network, Xs, Ys, self)
        network.set_channel_stats(x_mean=x_mean, x_scale=x_scale, y_mean=y_mean, y_scale=y_scale)
        self._set_fitted(network, history)
        return self

    def _network_kwargs(self, X, Y):
        """The mode's constructor arguments: from the data, then from the parameters of the same name.

        A parameter left at None takes the network's own default (e.g. ``n_routers``).
        """
        own = self.get_params(deep=False)
        given = network_class(self.mode).data_kwargs(X, Y)
        defaults = network_defaults(self.mode)
        kept = {k: own[k] for k in network_params(self.mode)
                if k in own and not (own[k] is None and defaults.get(k) is not None)}
        return {**kept, **given}

    def _set_fitted(self, network, history):
        """Every fitted attribute, from the network (shared by ``fit`` and ``from_pretrained``)."""
        self.module_ = network.to(self.device).eval()
        self.history_ = history
        self.n_eeg_channels_, self.n_meg_channels_ = network.n_chans_in, network.n_chans_out
        self.n_features_in_ = self.n_eeg_channels_  # scikit-learn's name for the input channel count
        for name, value in network.channel_stats().items():
            setattr(self, name + "_", value)

    def predict(self, X, batch_size=None):
        """Predict MEG windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
            EEG windows in volts; ``n_times`` may differ from the one in ``fit``.
        batch_size : int or None
            Windows per forward pass (default: the training ``batch_size``).

        Returns
        -------
        Y_pred : ndarray, shape (n_windows, n_meg, n_times_out)
            MEG in the units of the training ``Y``; ``n_times_out`` scales with
            ``n_times`` as in training.
        """
        check_is_fitted(self, "module_")
        X = check_eeg(X, self.n_eeg_channels_)
        Xs = ((X - self.x_mean_[:, None]) / self.x_scale_[:, None]).astype(np.float32)
        if hasattr(self.module_, "set_decoding"):  # a generating network: decoding may change after fit
            self.module_.set_decoding(self.decoding, self.decoding_temperature, self.decoding_top_k)
        with seeded(self.random_state, self.device):  # a sampling decoder draws from torch's RNG
            out = predict_batches(self.module_, Xs, batch_size=int(batch_size or self.batch_size), device=self.device)
        Ys = check_finite_outputs(out).astype(np.float64)
        return Ys * self.y_scale_[:, None] + self.y_mean_[:, None]

    def token_cross_entropy(self, X, Y, batch_size=None):
        """Mean cross-entropy of the MEG tokens (``mode="tokens"``; teacher-forced when autoregressive).

        The token model's own loss on held-out windows, in nats per token
        (``log(255) = 5.54`` is a uniform guess over the levels).

        Parameters
        ----------
        X : array-like, shape (n_windows, n_eeg, n_times)
            EEG windows, in the units of the training ``X``.
        Y : array-like, shape (n_windows, n_meg, n_times)
            The MEG windows to score, in the units of the training ``Y``.
        batch_size : int or None
            Windows per pass (default: the training ``batch_size``).

        Returns
        -------
        cross_entropy : float
            Mean cross-entropy in nats per MEG token.
        """
        import torch

        check_is_fitted(self, "module_")
        if not hasattr(self.module_, "meg_tokens"):
            raise ValueError(
                f"token_cross_entropy scores token models; this one has mode={self.mode!r}. "
                "Fit with mode='tokens', or compare continuous models with score() / eeg2meg_metrics()."
            )
        X, Y = check_pair(X, Y)
        X = check_eeg(X, self.n_eeg_channels_)
        Xs = ((X - self.x_mean_[:, None]) / self.x_scale_[:, None]).astype(np.float32)
        Ys = ((Y - self.y_mean_[:, None]) / self.y_scale_[:, None]).astype(np.float32)
        bs = int(batch_size or self.batch_size)
        module = self.module_.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(Xs), bs):
                eeg = torch.from_numpy(Xs[i : i + bs]).to(self.device)
                meg = torch.from_numpy(Ys[i : i + bs]).to(self.device)
                total += float(module.token_cross_entropy(module.training_output(eeg, meg), meg)) * meg.numel()
        return total / Ys.size

    # -- persistence: the layout of eeg2meg.persist --------------------------------------
    def save_pretrained(self, directory):
        """Write ``config.json`` + ``model.safetensors`` + ``eegfm_estimator.json``.

        The folder loads back with :meth:`from_pretrained` (identical
        predictions) and, with the ``hf`` extra, with
        ``transformers.AutoModel.from_pretrained`` (the network alone).
        Share it with ``huggingface_hub.upload_folder``.

        Parameters
        ----------
        directory : str or Path
            Target folder (created if needed).

        Returns
        -------
        directory : Path
            The folder written.
        """
        check_is_fitted(self, "module_")
        state = {"estimator": type(self).__name__, "params": jsonable_params(self)}
        return persist.save_folder(self.module_, directory, state)

    @classmethod
    def from_pretrained(cls, pretrained, **hub_kwargs):
        """Load a fitted regressor from a folder or a Hugging Face repo id.

        Reads folders written by :meth:`save_pretrained` and by
        ``EEGToMEGModel.save_pretrained`` (then the training parameters are
        the defaults). Only JSON and safetensors are read; nothing is unpickled.

        Parameters
        ----------
        pretrained : str or Path
            Folder or ``"owner/repo"``.
        **hub_kwargs
            Passed to ``huggingface_hub.hf_hub_download`` (``revision``,
            ``cache_dir``, ``token``...).

        Returns
        -------
        estimator : EEGToMEGRegressor
        """
        network = persist.load_network(pretrained, **hub_kwargs)
        state = persist.read_estimator_state(pretrained, **hub_kwargs) or {}
        if state.get("estimator", cls.__name__) != cls.__name__:
            raise ValueError(f"{pretrained} holds a {state['estimator']}; load it with that class.")
        own = cls().get_params(deep=False)
        arch = {k: v for k, v in network.build_kwargs.items() if k in own}
        est = cls(**{**state.get("params", {}), **arch, "mode": network.mode})
        est._validate_params()
        est._set_fitted(network, None)
        return est
