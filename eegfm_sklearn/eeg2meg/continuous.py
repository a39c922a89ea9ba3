"""A Crossformer-derived encoder-decoder that maps EEG windows to MEG windows.

Every channel's series is cut into segments of ``seg_len`` samples and each
segment becomes one token (dimension-segment-wise embedding), so a window is a
grid of tokens ``(channel, segment)``. Two-stage attention layers mix that
grid: first along time (per channel), then across channels through a few
learned router vectors, which keeps the cost linear in the channel count.
The decoder holds one token per (MEG channel, segment); it starts from a
learned linear channel mixing of the time-aligned EEG segment embeddings (MEG
is, to first order, a linear spatial mix of the same sources), runs the same
two-stage
self-attention and then cross-attends, segment by segment, to all EEG tokens
of the time-aligned encoder segment. All blocks are Pre-LN. An optional linear
spatio-temporal skip path (``linear_skip``) carries what a lagged linear filter
can explain, so the attention layers learn the residual. Stochastic depth
(``drop_path``) drops whole layer updates per window in training.

Channel identities are learned embeddings (their numbers are fixed by the
config); time positions are sinusoidal, so any window length works.

This is the network of ``mode="continuous"`` (see :mod:`.networks`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..utils._warn import import_braindecode
from .base import EEGToMEGNetwork
from .layers import Attention, FeedForward, PreLNBlock, cross_per_step, sinusoidal_code


def sinusoidal_positions(n: int, d: int, device=None, dtype=None) -> torch.Tensor:
    """Fixed sine/cosine code of positions ``0..n-1``, shape ``(n, d)``."""
    return sinusoidal_code(n, d, device=device, dtype=dtype)


class RouterBlock(nn.Module):
    """Channel stage: routers gather from all channels, channels read the routers back.

    ``R`` routers make the channel mixing cost ``O(C R)`` instead of ``O(C^2)``.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers):
        super().__init__()
        self.routers = nn.Parameter(torch.randn(n_routers, d_model) * 0.02)
        self.norm_x = nn.LayerNorm(d_model)
        self.send = Attention(d_model, n_heads, dropout)
        self.norm_buf = nn.LayerNorm(d_model)
        self.receive = Attention(d_model, n_heads, dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # x: (N, C, d)
        h = self.norm_x(x)
        routers = self.routers.unsqueeze(0).expand(x.shape[0], -1, -1)
        buffer = routers + self.send(routers, h)
        x = x + self.drop(self.receive(h, self.norm_buf(buffer)))
        return x + self.drop(self.ff(self.norm_ff(x)))


class TwoStageAttention(nn.Module):
    """Time-wise self-attention per channel, then router channel-wise attention per segment."""

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers):
        super().__init__()
        self.time = PreLNBlock(d_model, n_heads, d_ff, dropout)
        self.channel = RouterBlock(d_model, n_heads, d_ff, dropout, n_routers)

    def forward(self, x):  # x: (B, C, S, d)
        b, c, s, d = x.shape
        x = self.time(x.reshape(b * c, s, d)).view(b, c, s, d)
        x = x.transpose(1, 2).reshape(b * s, c, d)
        x = self.channel(x).view(b, s, c, d).transpose(1, 2)
        return x.contiguous()


class DecoderLayer(nn.Module):
    """Two-stage self-attention over MEG tokens, then cross-attention to EEG tokens."""

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers):
        super().__init__()
        self.self_attn = TwoStageAttention(d_model, n_heads, d_ff, dropout, n_routers)
        self.cross = PreLNBlock(d_model, n_heads, d_ff, dropout, cross=True)

    def forward(self, y, memory):
        # y: (B, C_out, S_out, d); memory: (B, C_in, S_out, d), already time-aligned.
        y = self.self_attn(y)
        out = cross_per_step(self.cross, y.transpose(1, 2), memory.transpose(1, 2))
        return out.transpose(1, 2).contiguous()


def drop_update(old: torch.Tensor, new: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a layer's whole update ``new - old`` per window with probability ``p``.

    braindecode's ``drop_path`` on the update (the layers return ``old +
    update``): kept updates are scaled by ``1 / (1 - p)``, so the expected
    output is the layer's; outside training the layer's output as it is.
    """
    if not training or p == 0:
        return new
    import_braindecode()  # on first use only: braindecode imports its model zoo
    from braindecode.functional import drop_path

    return old + drop_path(new - old, p, training)


class EEGToMEGTransformer(EEGToMEGNetwork):
    """Sequence-to-sequence transformer from EEG windows to MEG windows.

    The forward pass works on per-channel standardised data; the buffers
    ``x_mean``, ``x_scale``, ``y_mean``, ``y_scale`` hold the statistics that
    :meth:`predict_si` uses to go from and back to SI units (V, T, T/m), and
    they are saved with the weights.

    Parameters
    ----------
    n_chans_in : int
        Number of EEG channels.
    n_chans_out : int
        Number of MEG channels.
    seg_len : int
        Samples per segment token (dimension-segment-wise embedding).
    d_model : int
        Token width.
    n_heads : int
        Attention heads (must divide ``d_model``).
    n_encoder_layers, n_decoder_layers : int
        Depth of the EEG encoder and of the MEG decoder.
    n_routers : int
        Learned router vectors of the channel-wise attention stage.
    d_ff : int or None
        Hidden width of the feed-forward blocks; None means ``2 * d_model``.
    dropout : float
        Dropout in attention and feed-forward blocks.
    time_ratio : float
        ``n_times_out / n_times_in``: the MEG window spans the same time as
        the EEG window, possibly with another number of samples.
    linear_skip : bool
        Add a linear spatio-temporal EEG->MEG map (a convolution over
        ``2 * skip_lags + 1`` samples) to the output: a residual path, so the
        transformer, whose output layer starts at zero, learns what a linear
        filter misses. The estimator initialises it with the lagged ridge
        solution.
    skip_lags : int
        Lags on each side of the linear path.
    patch_context : int or None
        Samples on each side of a segment that its token also embeds
        (overlapping patches); None means ``seg_len // 2``.
    drop_path : float
        Stochastic depth: during training, each encoder and decoder layer's
        whole update is dropped per window with this probability, so the
        linear route (the channel mix of the EEG patch embeddings into the
        head) has to carry the map on its own part of the time. 0 disables.
    """

    mode = "continuous"

    def __init__(
        self,
        n_chans_in: int,
        n_chans_out: int,
        seg_len: int = 10,
        d_model: int = 64,
        n_heads: int = 4,
        n_encoder_layers: int = 2,
        n_decoder_layers: int = 1,
        n_routers: int = 4,
        d_ff: int | None = None,
        dropout: float = 0.0,
        time_ratio: float = 1.0,
        linear_skip: bool = True,
        skip_lags: int = 6,
        patch_context: int | None = None,
        drop_path: float = 0.0,
    ):
        super().__init__(
            n_chans_in=n_chans_in, n_chans_out=n_chans_out, seg_len=seg_len, d_model=d_model,
            n_heads=n_heads, n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers,
            n_routers=n_routers, d_ff=d_ff, dropout=dropout, time_ratio=time_ratio,
            linear_skip=linear_skip, skip_lags=skip_lags, patch_context=patch_context, drop_path=drop_path,
        )
        for name, val in [
            ("seg_len", seg_len),
            ("d_model", d_model), ("n_heads", n_heads), ("n_routers", n_routers),
            ("n_encoder_layers", n_encoder_layers), ("n_decoder_layers", n_decoder_layers),
        ]:
            if int(val) != val or val < (0 if name.endswith("layers") else 1):
                raise ValueError(f"{name} must be a positive integer; got {val!r}.")
        d_ff = 2 * d_model if d_ff is None else d_ff
        self.seg_len = seg_len
        self.patch_context = seg_len // 2 if patch_context is None else int(patch_context)
        if self.patch_context < 0:
            raise ValueError(f"patch_context must be >= 0 or None; got {patch_context!r}.")
        self.d_model, self.time_ratio = d_model, float(time_ratio)
        if not 0 <= drop_path < 1:
            raise ValueError(f"drop_path must be in [0, 1) (a probability of dropping a layer's update); "
                             f"got {drop_path!r}.")
        self.drop_path = float(drop_path)

        # A segment's token embeds its samples and patch_context samples on each side, so a
        # lagged relation crossing a segment boundary is still linear in the token.
        self.segment_embed = nn.Linear(seg_len + 2 * self.patch_context, d_model)
        self.eeg_channel_embed = nn.Parameter(torch.randn(n_chans_in, d_model) * 0.02)
        self.meg_channel_embed = nn.Parameter(torch.randn(n_chans_out, d_model) * 0.02)
        # The decoder starts from a linear channel mix of the EEG segment embeddings, one mix per
        # embedding feature: features hold different lags, so this is a learned FIR per channel pair.
        # Without the skip it starts at zero: a random start is a random EEG->MEG map that Adam's small
        # steps take hundreds of updates to undo (the guide, "what was wrong"). With the skip the head
        # starts at zero instead (the output starts as the ridge map), and a zero mix under a zero head
        # would get no gradient, so the mix starts random there.
        shape = (n_chans_out, n_chans_in, d_model)
        mix = torch.randn(shape) / math.sqrt(n_chans_in) if linear_skip else torch.zeros(shape)
        self.channel_mix = nn.Parameter(mix)
        # Linear spatio-temporal path (lags -skip_lags..skip_lags); the transformer adds the rest.
        self.skip_lags = int(skip_lags)
        self.linear_skip = (
            nn.Parameter(torch.zeros(n_chans_out, n_chans_in, 2 * self.skip_lags + 1))
            if linear_skip else None
        )
        args = (d_model, n_heads, d_ff, dropout, n_routers)
        self.encoder = nn.ModuleList(TwoStageAttention(*args) for _ in range(n_encoder_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(DecoderLayer(*args) for _ in range(n_decoder_layers))
        # No LayerNorm before the head: the stream's amplitude goes to the output as it is.
        self.head = nn.Linear(d_model, seg_len)
        if linear_skip:
            # Zero-initialised transformer output: training starts from the linear path.
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.emb_drop = nn.Dropout(dropout)

    def n_times_out(self, n_times_in: int) -> int:
        """Count the MEG samples predicted for an EEG window.

        Parameters
        ----------
        n_times_in : int
            Samples of the EEG window.

        Returns
        -------
        n_times_out : int
            ``round(n_times_in * time_ratio)``, at least 1.
        """
        return max(1, int(round(n_times_in * self.time_ratio)))

    def forward(self, x: torch.Tensor, n_times_out: int | None = None) -> torch.Tensor:
        """Map standardised EEG to standardised MEG.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans_in, n_times)
            Standardised EEG.
        n_times_out : int or None, default=None
            MEG samples to predict; None: :meth:`n_times_out` of ``n_times``.

        Returns
        -------
        meg : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            Standardised MEG.
        """
        b, c_in, t = x.shape
        if c_in != self.n_chans_in:
            raise ValueError(f"Expected {self.n_chans_in} EEG channels, got {c_in}.")
        t_out = self.n_times_out(t) if n_times_out is None else int(n_times_out)
        p = self.seg_len
        s_in, s_out = -(-t // p), -(-t_out // p)
        # Zero padding = the channel mean after standardisation; padded outputs are cropped.
        x0 = x
        ctx = self.patch_context
        x = F.pad(x, (ctx, s_in * p - t + ctx)).unfold(-1, p + 2 * ctx, p)  # (b, c_in, s_in, p + 2 ctx)
        pos_in = sinusoidal_positions(s_in, self.d_model, x.device, x.dtype)
        e = self.segment_embed(x)
        h = e + self.eeg_channel_embed[:, None] + pos_in
        h = self.emb_drop(h)
        for layer in self.encoder:
            h = drop_update(h, layer(h), self.drop_path, self.training)
        h = self.encoder_norm(h)

        # Each MEG segment reads the EEG segment covering the same time (equal when T_out == T).
        idx = ((torch.arange(s_out, device=x.device) + 0.5) * (s_in / s_out)).long()
        memory = h[:, :, idx.clamp_(max=s_in - 1)]
        pos_out = sinusoidal_positions(s_out, self.d_model, x.device, x.dtype)
        y = torch.einsum("ocd,bcsd->bosd", self.channel_mix, e[:, :, idx])
        y = y + self.meg_channel_embed[:, None] + pos_out
        for layer in self.decoder:
            y = drop_update(y, layer(y, memory), self.drop_path, self.training)
        out = self.head(y).reshape(b, self.n_chans_out, s_out * p)
        out = out[..., :t_out]
        if self.linear_skip is not None:
            out = out + F.conv1d(self.align_input(x0, t_out), self.linear_skip, padding=self.skip_lags)
        return out

    @staticmethod
    def align_input(x: torch.Tensor, n_times_out: int) -> torch.Tensor:
        """Resample EEG to the MEG sample times (linear interpolation).

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans_in, n_times)
            EEG.
        n_times_out : int
            MEG samples per window.

        Returns
        -------
        aligned : torch.Tensor, shape (batch, n_chans_in, n_times_out)
            ``x`` itself when ``n_times == n_times_out``.
        """
        if x.shape[-1] == n_times_out:
            return x
        return F.interpolate(x, size=n_times_out, mode="linear", align_corners=False)

    # -- the mode's hooks (see base.EEGToMEGNetwork) -------------------------------------
    @classmethod
    def data_kwargs(cls, X, Y):
        """Read the constructor arguments that paired windows determine.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_chans_in, n_times)
            EEG windows.
        Y : ndarray, shape (n_windows, n_chans_out, n_times_out)
            MEG windows.

        Returns
        -------
        kwargs : dict
            ``n_chans_in``, ``n_chans_out`` and ``time_ratio``
            (``n_times_out / n_times``).
        """
        return {**super().data_kwargs(X, Y), "time_ratio": Y.shape[2] / X.shape[2]}

    def check_windows(self, n_times_in, n_times_out):
        """Raise ``ValueError`` if a window is shorter than one segment token (``seg_len``).

        Parameters
        ----------
        n_times_in : int
            Samples per EEG window.
        n_times_out : int
            Samples per MEG window.
        """
        short = min(n_times_in, n_times_out)
        if short < self.seg_len:
            raise ValueError(
                f"Windows of {short} samples are shorter than one segment token (seg_len={self.seg_len}): "
                "cut longer windows (at least seg_len samples of EEG and of MEG) or lower seg_len."
            )

    @property
    def linear_path_lags(self) -> int | None:
        """Lags on each side of the linear path, None without one (see :meth:`set_linear_path`)."""
        return None if self.linear_skip is None else self.skip_lags

    def set_linear_path(self, weights) -> None:
        """Set the linear path's ``conv1d`` weights.

        The estimator starts it at the cross-validated lagged ridge solution
        (:func:`.baselines.init_linear_path`), so this module needs no sklearn.

        Parameters
        ----------
        weights : array-like of shape (n_chans_out, n_chans_in, 2 * skip_lags + 1)
            The lagged linear map.
        """
        if self.linear_skip is None:
            raise ValueError("This network has no linear path (linear_skip=False).")
        with torch.no_grad():
            self.linear_skip.copy_(torch.as_tensor(weights, dtype=self.linear_skip.dtype))

    def training_output(self, eeg, meg):
        """Predict MEG of the targets' length (no teacher forcing: ``meg`` gives only its length).

        Parameters
        ----------
        eeg : torch.Tensor, shape (batch, n_chans_in, n_times)
            Standardised EEG.
        meg : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            Standardised MEG targets.

        Returns
        -------
        output : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            ``forward(eeg, n_times_out)``.
        """
        return self(eeg, n_times_out=meg.shape[-1])

    def loss(self, output, meg):
        """Compute the mean squared error of the standardised MEG.

        Parameters
        ----------
        output : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            What :meth:`training_output` returned.
        meg : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            Standardised MEG targets.

        Returns
        -------
        loss : torch.Tensor
            A 0-d tensor.
        """
        return F.mse_loss(output, meg)
