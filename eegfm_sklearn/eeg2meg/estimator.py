"""scikit-learn regressor around :class:`EEGToMEGTransformer`, trained with skorch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import channel_stats, check_eeg, check_pair
from .metrics import channel_r2
from .network import EEGToMEGTransformer

ESTIMATOR_CONFIG = "eegfm_estimator.json"

# Estimator parameters that are the network's config (same names).
_ARCH_PARAMS = (
    "seg_len", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "n_routers",
    "d_ff", "dropout", "linear_skip", "skip_lags",
)


def _ridge_conv_weights(Xs, Ys, n_lags):
    """Lagged-ridge solution as ``conv1d`` weights ``(n_out, n_in, 2 * n_lags + 1)``."""
    from .baselines import RidgeEEGToMEG

    ridge = RidgeEEGToMEG(n_lags=n_lags).fit(Xs, Ys)
    n_in, n_out = Xs.shape[1], Ys.shape[1]
    # coef_ rows are (lag, channel) with lag k using x[t - k]; conv1d tap j uses x[t + j - n_lags].
    coef = ridge.coef_.reshape(2 * n_lags + 1, n_in, n_out)[::-1]
    # Undo the ridge's own standardisation (Xs, Ys are already nearly standard).
    w = coef.transpose(2, 1, 0) * ridge.y_scale_[:, None, None] / ridge.x_scale_[None, :, None]
    return np.ascontiguousarray(w)


class EEG2MEGScoreMixin:
    """``score`` = mean over MEG channels of R^2 over all windows and samples."""

    def score(self, X, Y, sample_weight=None):
        """Mean per-channel coefficient of determination.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_eeg, n_times)
        Y : ndarray, shape (n_windows, n_meg, n_times_out)
        sample_weight : None
            Not supported (must be None).

        Returns
        -------
        score : float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported; drop or repeat windows instead.")
        X, Y = check_pair(X, Y)
        return float(np.mean(channel_r2(Y, self.predict(X))))


def _check_folder_or_repo_id(pretrained):
    """A missing local folder is reported as such, not as a malformed Hugging Face repo id."""
    import re

    text = os.fspath(pretrained)
    if os.path.isdir(text):
        return
    looks_like_repo = isinstance(pretrained, str) and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text)
    if not looks_like_repo or text.startswith((".", "~")) or os.path.isabs(text):
        raise FileNotFoundError(
            f"from_pretrained: the folder {text!r} does not exist, and it is not a Hugging Face repo id "
            "('owner/name'). Pass the folder written by save_pretrained, or a repo id."
        )


class EEGToMEGRegressor(EEG2MEGScoreMixin, RegressorMixin, BaseEstimator):
    """Predict MEG windows from EEG windows with a two-stage-attention transformer.

    EEG and MEG are standardised per channel inside ``fit``, so pass raw SI
    units (V, T, T/m); ``predict`` returns the original MEG units.

    Parameters
    ----------
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
    n_routers : int, default=4
        Router vectors of the channel-wise attention stage.
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
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=32
        Windows per optimisation step.
    lr : float, default=2e-3
        Peak AdamW learning rate (cosine-annealed to 0 over ``max_epochs``).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation and batch order (torch's global RNG is
        left untouched).
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        skorch verbosity (1 prints the loss per epoch).

    Attributes
    ----------
    module_ : EEGToMEGTransformer
        The trained network (its buffers hold the channel statistics).
    net_ : skorch.NeuralNetRegressor or None
        The skorch net used in ``fit`` (None after :meth:`from_pretrained`).
    history_ : skorch.History or None
        Training history.
    x_mean_, x_scale_ : ndarray, shape (n_eeg,)
        EEG channel statistics.
    y_mean_, y_scale_ : ndarray, shape (n_meg,)
        MEG channel statistics.
    n_eeg_channels_, n_meg_channels_ : int
        Channel counts seen in ``fit``.
    """

    def __init__(
        self,
        seg_len=10,
        d_model=64,
        n_heads=4,
        n_encoder_layers=2,
        n_decoder_layers=1,
        n_routers=4,
        d_ff=None,
        dropout=0.0,
        linear_skip=True,
        skip_lags=6,
        max_epochs=30,
        batch_size=32,
        lr=2e-3,
        weight_decay=1e-4,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
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
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

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
        """
        from skorch import NeuralNetRegressor
        from skorch.callbacks import GradientNormClipping, LRScheduler

        X, Y = check_pair(X, Y)
        short = min(X.shape[2], Y.shape[2])
        if short < self.seg_len:
            raise ValueError(
                f"Windows of {short} samples are shorter than one segment token (seg_len={self.seg_len}): "
                "cut longer windows (at least seg_len samples of EEG and of MEG) or lower seg_len."
            )
        self.x_mean_, self.x_scale_ = channel_stats(X)
        self.y_mean_, self.y_scale_ = channel_stats(Y)
        Xs = ((X - self.x_mean_[:, None]) / self.x_scale_[:, None]).astype(np.float32)
        Ys = ((Y - self.y_mean_[:, None]) / self.y_scale_[:, None]).astype(np.float32)
        self.n_eeg_channels_, self.n_meg_channels_ = X.shape[1], Y.shape[1]

        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        devices = [self.device] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            net = NeuralNetRegressor(
                module=EEGToMEGTransformer,
                module__n_chans_in=X.shape[1],
                module__n_chans_out=Y.shape[1],
                module__time_ratio=Y.shape[2] / X.shape[2],
                **{f"module__{p}": getattr(self, p) for p in _ARCH_PARAMS},
                criterion=torch.nn.MSELoss,
                optimizer=torch.optim.AdamW,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                iterator_train__shuffle=True,
                train_split=None,
                callbacks=[
                    ("clip", GradientNormClipping(gradient_clip_value=1.0)),
                    ("cosine", LRScheduler("CosineAnnealingLR", T_max=max(1, self.max_epochs))),
                ],
                device=self.device,
                verbose=self.verbose,
            )
            net.initialize()
            if self.linear_skip:
                with torch.no_grad():
                    xa = net.module_.align_input(torch.from_numpy(Xs), Ys.shape[2]).numpy()
                    w = _ridge_conv_weights(xa, Ys, int(self.skip_lags))
                    net.module_.linear_skip.copy_(torch.as_tensor(w, dtype=torch.float32))
            net.partial_fit(Xs, Ys)
        self.net_ = net
        self.history_ = net.history
        self.module_ = net.module_
        self.module_.eval()
        self._store_stats_in_module()
        return self

    def _store_stats_in_module(self):
        # The statistics travel with the weights, so save_pretrained is self-contained.
        m = self.module_
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            buf = getattr(m, name)
            buf.copy_(torch.as_tensor(getattr(self, name + "_"), dtype=buf.dtype))

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
        bs = int(batch_size or self.batch_size)
        module = self.module_.to(self.device).eval()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(Xs), bs):
                xb = torch.from_numpy(Xs[i : i + bs]).to(self.device)
                outs.append(module(xb).cpu().numpy())
        Ys = np.concatenate(outs).astype(np.float64)
        return Ys * self.y_scale_[:, None] + self.y_mean_[:, None]

    # -- Hugging Face style sharing ------------------------------------------------
    def save_pretrained(self, save_directory, **kwargs):
        """Write ``config.json`` + ``model.safetensors`` (+ estimator parameters).

        Parameters
        ----------
        save_directory : str or Path
            Target folder (created if needed).
        **kwargs
            Passed to ``EEGToMEGTransformer.save_pretrained`` (e.g. ``push_to_hub``).

        Returns
        -------
        save_directory : Path
        """
        check_is_fitted(self, "module_")
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        params = {
            k: v for k, v in self.get_params().items()
            if k not in _ARCH_PARAMS and isinstance(v, (int, float, str, bool, type(None)))
        }
        (save_directory / ESTIMATOR_CONFIG).write_text(json.dumps(params, indent=2))
        self.module_.save_pretrained(save_directory, **kwargs)
        return save_directory

    @classmethod
    def from_pretrained(cls, pretrained, **hub_kwargs):
        """Load a fitted regressor from a folder or a Hugging Face repo id.

        Only JSON and safetensors are read; nothing is unpickled.

        Parameters
        ----------
        pretrained : str or Path
            Folder written by :meth:`save_pretrained` or ``"owner/repo"``.
        **hub_kwargs
            Passed to ``huggingface_hub`` (``revision``, ``cache_dir``, ``token``...).

        Returns
        -------
        estimator : EEGToMEGRegressor
        """
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        _check_folder_or_repo_id(pretrained)
        module = EEGToMEGTransformer.from_pretrained(pretrained, **hub_kwargs)
        if os.path.isdir(pretrained):
            path = Path(pretrained) / ESTIMATOR_CONFIG
            params = json.loads(path.read_text()) if path.exists() else {}
        else:
            try:
                path = hf_hub_download(str(pretrained), ESTIMATOR_CONFIG, **hub_kwargs)
                params = json.loads(Path(path).read_text())
            except EntryNotFoundError:  # a bare network repo: default training parameters
                params = {}
        valid = cls().get_params()
        params = {k: v for k, v in params.items() if k in valid and k not in _ARCH_PARAMS}
        arch = {p: getattr(module, "_hub_mixin_config", {}).get(p, valid[p]) for p in _ARCH_PARAMS}
        est = cls(**arch, **params)
        est.module_ = module.eval()
        est.net_ = None
        est.history_ = None
        est.n_eeg_channels_, est.n_meg_channels_ = module.n_chans_in, module.n_chans_out
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            setattr(est, name + "_", getattr(module, name).detach().cpu().double().numpy())
        return est
