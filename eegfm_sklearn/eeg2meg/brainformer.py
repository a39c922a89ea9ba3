"""The token network of ``mode="tokens"``: a Brainformer-style encoder-decoder over sample tokens.

Every sample of every channel is one token (:mod:`.tokens`: 258 entries). A
window is a grid ``(time, channel)`` of ``d_model`` vectors: the token
embedding (a learned vector plus the token's level value times a learned
direction) plus a sinusoidal time code and a fixed sinusoidal channel code,
the sum scaled by ``sqrt(d_model)`` (as the reference does).

* Encoder: two-stage attention layers. Stage 1 attends along time within each
  channel (then an MLP); stage 2 mixes channels at each time step through
  ``n_routers`` learned router vectors *of that time position* (a table of
  ``max_len`` router sets): the routers gather from all channels, every
  channel reads the routers back (then an MLP).
* Decoder: one stream per (MEG channel, time step), started as a learned
  linear mix of the EEG token embeddings of the neighbouring steps
  (``stem_lags``); the same two-stage layers, then at each time step
  cross-attention from the MEG channel tokens to the EEG channel tokens of
  the same step. By default it reads the EEG only and predicts every step in
  one pass; ``autoregressive=True`` is the reference's design: the MEG tokens
  shifted right by one step with BOS in front are added to the stream
  (teacher forcing), the time stage is causal, and :meth:`generate` decodes
  step by step with cached keys and values.
* Pre-LN blocks, ``Linear(d_model, 258)`` per token on the stream (no final
  LayerNorm: it would divide out the amplitude), cross-entropy over the
  vocabulary: against the true token, or (``target_sigma > 0``) against a
  Gaussian histogram over the levels around the true value (HL-Gauss).
* Prediction: the mean of each step's distribution over levels
  (``decoding="expected"``), or a picked token (greedy, temperature, top-k).

Why these departures from the reference: ``docs/guide/eeg2meg.md`` (token mode).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import EEGToMEGNetwork
from .layers import Attention, FeedForward, PreLNBlock, cross_per_step, sinusoidal_code
from .tokens import (
    BOS,
    MU,
    N_LEVELS,
    N_SPECIAL,
    PAD,
    MuLawTokenizer,
    decode_tensor,
    encode_tensor,
    level_positions,
    level_target_band,
    mu_law_compand,
    mu_law_expand,
)

STRATEGIES = ("expected", "greedy", "temperature", "top_k")

# The reference's configuration (its Seq2SeqCrossConfig defaults and training script), as
# EEGToMEGRegressor parameters: EEGToMEGRegressor(mode="tokens", **REFERENCE_CONFIG).
REFERENCE_CONFIG = dict(
    d_model=64, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, d_ff=512, dropout=0.1,
    n_routers=10, lr=3e-4, weight_decay=0.01,
)


def mlp(d_model: int, d_ff: int) -> FeedForward:
    return FeedForward(d_model, d_ff)


class TwoStageLayer(nn.Module):
    """Time stage (self-attention along time per channel + MLP), then router channel stage + MLP.

    Input and output ``(B, T, C, d)``. ``causal=True`` masks future time steps.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers, max_len, causal):
        super().__init__()
        self.causal = causal
        self.norm_time = nn.LayerNorm(d_model)
        self.time_attn = Attention(d_model, n_heads, dropout, bias=False)
        self.norm_time_ff = nn.LayerNorm(d_model)
        self.time_ff = mlp(d_model, d_ff)
        # One set of routers per time position (the reference's (length + 1, routers, d) table).
        self.routers = nn.Parameter(torch.randn(max_len, n_routers, d_model))
        self.norm_routers = nn.LayerNorm(d_model)
        self.norm_channel = nn.LayerNorm(d_model)
        self.gather = Attention(d_model, n_heads, dropout, bias=False)
        self.scatter = Attention(d_model, n_heads, dropout, bias=False)
        self.norm_channel_ff = nn.LayerNorm(d_model)
        self.channel_ff = mlp(d_model, d_ff)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, c, d = x.shape
        # Stage 1: along time, one sequence per (window, channel).
        s = x.transpose(1, 2).reshape(b * c, t, d)
        h = self.norm_time(s)
        s = s + self.drop(self.time_attn(h, h, causal=self.causal))
        s = self._time_ff(s)
        s = s.view(b, c, t, d).transpose(1, 2).reshape(b * t, c, d)
        return self._channel_stage(s, self.routers[:t], b).view(b, t, c, d)

    def step(self, x, cache: list, t: int):
        """The same layer for the single step ``t`` ``(B, 1, C, d)`` of a causal sequence.

        ``cache`` holds the time stage's keys and values of steps ``< t`` (empty at
        ``t = 0``) and gets those of step ``t`` appended: step ``t`` reads steps
        ``<= t`` only, as the causal mask does in :meth:`forward`.
        """
        b, _, c, d = x.shape
        s = x.reshape(b * c, 1, d)
        h = self.norm_time(s)
        k, v = self.time_attn.keys_values(h)
        if cache:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        cache[:] = [k, v]
        s = self._time_ff(s + self.drop(self.time_attn.attend(h, k, v)))
        return self._channel_stage(s.view(b, c, d), self.routers[t : t + 1], b).view(b, 1, c, d)

    def _time_ff(self, s):
        return s + self.drop(self.time_ff(self.norm_time_ff(s)))

    def _channel_stage(self, s, routers, b):
        """Across channels, one set per (window, time step), through that step's routers."""
        h = self.norm_channel(s)
        routers = self.norm_routers(routers).unsqueeze(0).expand(b, -1, -1, -1)
        buffer = self.gather(routers.reshape(s.shape[0], -1, s.shape[-1]), h)
        s = s + self.drop(self.scatter(h, buffer))
        return s + self.drop(self.channel_ff(self.norm_channel_ff(s)))


class DecoderLayer(nn.Module):
    """Two-stage self-attention over the MEG grid, then per step cross-attention to that step's EEG."""

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers, max_len, causal):
        super().__init__()
        self.self_stage = TwoStageLayer(d_model, n_heads, d_ff, dropout, n_routers, max_len, causal=causal)
        self.cross = PreLNBlock(d_model, n_heads, d_ff, dropout, cross=True, bias=False)

    def forward(self, y, memory):
        return cross_per_step(self.cross, self.self_stage(y), memory)

    def step(self, y, memory_t, cache, t):
        return cross_per_step(self.cross, self.self_stage.step(y, cache, t), memory_t)


class BrainformerNetwork(EEGToMEGNetwork):
    """Token encoder-decoder from EEG sample tokens to MEG sample tokens (``mode="tokens"``).

    The estimator's hooks (:class:`.base.EEGToMEGNetwork`) take per-channel
    standardised float windows; this network tokenises them itself with the
    robust scaling fitted in :meth:`prepare` (buffers ``x_center``,
    ``x_clip``, ``y_center``, ``y_clip``, saved with the weights), and
    :meth:`forward` generates MEG tokens and decodes them back to floats.
    Token tensors use the package's layout ``(batch, channels, time)``;
    logits are ``(batch, n_chans_out, time, vocab_size)``.

    Parameters
    ----------
    n_chans_in, n_chans_out : int
        EEG and MEG channel counts.
    d_model : int, default=64
        Token width.
    n_heads : int, default=4
        Attention heads (must divide ``d_model``).
    n_encoder_layers, n_decoder_layers : int, default=1
        Two-stage layers in the encoder and decoder.
    d_ff : int or None, default=512
        MLP hidden width (None: ``2 * d_model``).
    dropout : float, default=0.1
        Dropout on attention weights and residual branches.
    n_routers : int, default=10
        Routers per time position in the channel stage.
    max_len : int, default=256
        Longest window (time steps); sizes the per-position router table.
    clip_percentile : float, default=99.5
        Robust scaling: a channel's clamp is this percentile of ``|x - median|``.
    decoding : {"expected", "greedy", "temperature", "top_k"}, default="expected"
        What :meth:`forward` returns: the mean of each step's distribution
        over levels, or the level of a picked token (see :meth:`generate`).
    decoding_temperature : float, default=1.0
        Softmax temperature of the sampling strategies.
    decoding_top_k : int or None, default=None
        Tokens kept by ``decoding="top_k"``. (Not ``temperature`` / ``top_k``:
        ``transformers`` reserves those names for its own ``generate``.)
    mu : float, default=255.0
        µ-law constant.
    n_levels : int, default=255
        Quantisation levels; the vocabulary has ``n_levels + 3`` entries.
    autoregressive : bool, default=False
        Feed the MEG tokens of past steps to the decoder (teacher forcing in
        training, step-by-step generation) as the reference does. False
        predicts from the EEG alone, in one pass.
    stem_lags : int, default=4
        The decoder's stream starts as a learned linear mix of the EEG token
        embeddings of steps ``t - stem_lags .. t + stem_lags``.
    target_sigma : float, default=0.0
        The training loss's target, in level widths: 0 is the true token
        (plain cross-entropy); ``> 0`` a normal distribution of that standard
        deviation centred on the true (unrounded) level, integrated over the
        levels (:func:`.tokens.level_targets`), so that probability on
        neighbouring levels is rewarded.
    """

    mode = "tokens"

    def __init__(
        self,
        n_chans_in: int,
        n_chans_out: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_encoder_layers: int = 1,
        n_decoder_layers: int = 1,
        d_ff: int | None = 512,
        dropout: float = 0.1,
        n_routers: int = 10,
        max_len: int = 256,
        clip_percentile: float = 99.5,
        decoding: str = "expected",
        decoding_temperature: float = 1.0,
        decoding_top_k: int | None = None,
        mu: float = MU,
        n_levels: int = N_LEVELS,
        autoregressive: bool = False,
        stem_lags: int = 4,
        target_sigma: float = 0.0,
    ):
        super().__init__(
            n_chans_in=n_chans_in, n_chans_out=n_chans_out, d_model=d_model, n_heads=n_heads,
            n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers, d_ff=d_ff,
            dropout=dropout, n_routers=n_routers, max_len=max_len, clip_percentile=clip_percentile,
            decoding=decoding, decoding_temperature=decoding_temperature, decoding_top_k=decoding_top_k,
            mu=mu, n_levels=n_levels, autoregressive=bool(autoregressive), stem_lags=stem_lags,
            target_sigma=target_sigma,
        )
        d_ff = 2 * d_model if d_ff is None else d_ff
        for name, val, low in [
            ("d_model", d_model, 2), ("n_heads", n_heads, 1), ("n_encoder_layers", n_encoder_layers, 0),
            ("n_decoder_layers", n_decoder_layers, 1), ("d_ff", d_ff, 1), ("n_routers", n_routers, 1),
            ("max_len", max_len, 1), ("n_levels", n_levels, 3), ("stem_lags", stem_lags, 0),
        ]:
            if int(val) != val or val < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {val!r}.")
        if d_model % n_heads or d_model % 2:
            raise ValueError(f"d_model={d_model} must be even and a multiple of n_heads={n_heads}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        if not (math.isfinite(target_sigma) and target_sigma >= 0):
            raise ValueError(f"target_sigma must be a finite number >= 0 (level widths; 0 = plain "
                             f"cross-entropy); got {target_sigma!r}.")
        self.target_sigma = float(target_sigma)
        self.tokenizer_params = dict(clip_percentile=clip_percentile, mu=float(mu), n_levels=int(n_levels))
        MuLawTokenizer(**self.tokenizer_params)._check_params()
        self.vocab_size = int(n_levels) + N_SPECIAL
        self.set_decoding(decoding, decoding_temperature, decoding_top_k)  # fail at build, not at predict
        self.d_model, self.max_len = int(d_model), int(max_len)
        self.autoregressive, self.stem_lags = bool(autoregressive), int(stem_lags)

        # A token's embedding: a learned vector per token plus its level value (the µ-law decoded
        # sample) times a learned direction, so neighbouring levels start close and a linear map
        # of the samples is a linear map of the embeddings (see the guide: "what was wrong").
        self.eeg_embedding = nn.Embedding(self.vocab_size, d_model)
        self.eeg_value = nn.Linear(1, d_model, bias=False)
        self.meg_embedding = nn.Embedding(self.vocab_size, d_model) if self.autoregressive else None
        self.meg_value = nn.Linear(1, d_model, bias=False) if self.autoregressive else None
        for table in (self.eeg_embedding, self.meg_embedding):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)
        # The decoder's stream starts as a learned linear mix of the EEG token embeddings of steps
        # t - stem_lags .. t + stem_lags (MEG is, to first order, a lagged linear mix of the sources).
        # It starts at zero, as the continuous network's channel mix: a random start is a random map.
        n_taps = 2 * self.stem_lags + 1
        self.stem = nn.Parameter(torch.zeros(n_taps, n_chans_out, n_chans_in))
        # Time steps and channel indices get fixed codes, computed when used: nothing to train or
        # save, and nothing a loader that builds the module on the meta device could leave empty.
        args = (d_model, n_heads, d_ff, dropout, n_routers, max_len)
        self.encoder = nn.ModuleList(TwoStageLayer(*args, causal=False) for _ in range(n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*args, causal=self.autoregressive) for _ in range(n_decoder_layers))
        # No LayerNorm before the head: it would divide out the amplitude that the stream carries.
        self.head = nn.Linear(d_model, self.vocab_size)

        # Robust scaling of the (standardised) windows, fitted in prepare().
        f64 = dict(dtype=torch.float64)
        self.register_buffer("x_center", torch.zeros(n_chans_in, **f64))
        self.register_buffer("x_clip", torch.ones(n_chans_in, **f64))
        self.register_buffer("y_center", torch.zeros(n_chans_out, **f64))
        self.register_buffer("y_clip", torch.ones(n_chans_out, **f64))

    def set_decoding(self, decoding: str, temperature: float = 1.0, top_k: int | None = None):
        """Choose how :meth:`forward` generates (checked; saved with the config)."""
        _token_picker(decoding, temperature, top_k, self.vocab_size)
        self.decoding_options = dict(strategy=decoding, temperature=temperature, top_k=top_k)
        self.build_kwargs.update(decoding=decoding, decoding_temperature=temperature, decoding_top_k=top_k)
        return self

    # -- tokens ---------------------------------------------------------------------------
    def eeg_tokens(self, eeg: torch.Tensor) -> torch.Tensor:
        """EEG windows ``(B, n_chans_in, T)`` (standardised floats) to tokens."""
        return encode_tensor(eeg, self.x_center, self.x_clip, self.tokenizer_params["mu"], self.vocab_size - N_SPECIAL)

    def meg_tokens(self, meg: torch.Tensor) -> torch.Tensor:
        """MEG windows ``(B, n_chans_out, T)`` (standardised floats) to tokens."""
        return encode_tensor(meg, self.y_center, self.y_clip, self.tokenizer_params["mu"], self.vocab_size - N_SPECIAL)

    def meg_values(self, tokens: torch.Tensor) -> torch.Tensor:
        """MEG level tokens back to standardised floats (float32)."""
        out = decode_tensor(tokens, self.y_center, self.y_clip, self.tokenizer_params["mu"],
                            self.vocab_size - N_SPECIAL)
        return out.float()

    def tokenizers(self) -> tuple[MuLawTokenizer, MuLawTokenizer]:
        """EEG and MEG tokenisers holding this network's robust-scaling statistics."""
        def make(center, clip):
            tok = MuLawTokenizer(**self.tokenizer_params)
            return tok.set_stats(center.detach().cpu().numpy(), clip.detach().cpu().numpy())

        return make(self.x_center, self.x_clip), make(self.y_center, self.y_clip)

    def level_values(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled sample value of level tokens (``[-1, 1]``; 0 for PAD/BOS/EOS), float32."""
        n_levels = self.vocab_size - N_SPECIAL
        y = (tokens - N_SPECIAL).clamp(min=0).float() * (2.0 / (n_levels - 1)) - 1.0
        return torch.where(tokens >= N_SPECIAL, mu_law_expand(y, self.tokenizer_params["mu"]), 0.0)

    def _embed(self, tokens: torch.Tensor, table: nn.Embedding, value: nn.Linear, start: int = 0) -> torch.Tensor:
        """``(B, C, T)`` tokens of steps ``start..`` -> ``(B, T, C, d)``: (token + value + time + channel) * sqrt(d)."""
        _, c, t = tokens.shape
        if start + t > self.max_len:
            raise ValueError(
                f"Windows of {start + t} samples exceed max_len={self.max_len} (the per-position router "
                "table, sized by the training windows): cut windows of at most that many samples."
            )
        tok = tokens.transpose(1, 2)
        e = table(tok) + value(self.level_values(tok)[..., None])
        e = (e + sinusoidal_code(t, self.d_model, e.device, start=start)[:, None]
             + sinusoidal_code(c, self.d_model, e.device))
        return e * math.sqrt(self.d_model)

    def _check_tokens(self, tokens, n_chans, what):
        if tokens.dim() != 3 or tokens.shape[1] != n_chans:
            raise ValueError(f"{what} tokens must have shape (batch, {n_chans}, time); got {tuple(tokens.shape)}.")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"{what} tokens must be integers; got {tokens.dtype}.")

    # -- passes over tokens -------------------------------------------------------------------
    def encode(self, eeg_tokens: torch.Tensor) -> torch.Tensor:
        """EEG tokens ``(B, n_chans_in, T)`` -> ``(memory, stem)``, both ``(B, T, ., d)``.

        ``memory`` (``n_chans_in`` tokens per step) is what the decoder
        cross-attends to; ``stem`` (``n_chans_out`` per step) is the decoder's
        starting stream: the learned lagged channel mix of the EEG embeddings.
        """
        self._check_tokens(eeg_tokens, self.n_chans_in, "EEG")
        e = self._embed(eeg_tokens, self.eeg_embedding, self.eeg_value)
        b, t, c, d = e.shape
        # The lagged mix is a 1-D convolution over time of every embedding feature (one call instead of
        # one channel mix per lag); zero padding = zero embeddings beyond the window's edges.
        x = e.permute(0, 3, 2, 1).reshape(b * d, c, t)
        stem = F.conv1d(x, self.stem.permute(1, 2, 0), padding=self.stem_lags)
        stem = stem.view(b, d, self.n_chans_out, t).permute(0, 3, 2, 1)
        h = e
        for layer in self.encoder:
            h = layer(h)
        return h, stem

    def _output_codes(self, t: int, device, start: int = 0) -> torch.Tensor:
        """Time and MEG-channel codes ``(t, n_chans_out, d)`` of the decoder's queries."""
        d = self.d_model
        codes = sinusoidal_code(t, d, device, start=start)[:, None] + sinusoidal_code(self.n_chans_out, d, device)
        return codes * math.sqrt(d)

    def decode(self, encoded, decoder_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, n_chans_out, T', vocab)`` from :meth:`encode`'s output.

        Without ``autoregressive`` the decoder reads only the EEG
        (``decoder_tokens`` must be None; ``T' = T``). With it, position ``t``
        of ``decoder_tokens (B, n_chans_out, T')`` holds the MEG token of step
        ``t - 1`` (BOS at ``t = 0``); output ``t`` scores MEG step ``t`` and
        cross-attends to the EEG of step ``t``.
        """
        return self.head(self._stream(encoded, decoder_tokens)).transpose(1, 2)

    def _stream(self, encoded, decoder_tokens=None) -> torch.Tensor:
        """The decoder's output stream ``(B, T', n_chans_out, d)``, before the head (see :meth:`decode`)."""
        memory, stem = encoded
        if self.autoregressive:
            if decoder_tokens is None:
                raise ValueError("An autoregressive network decodes from MEG tokens shifted right (teacher forcing).")
            self._check_tokens(decoder_tokens, self.n_chans_out, "MEG")
            t = decoder_tokens.shape[2]
            y = self._embed(decoder_tokens, self.meg_embedding, self.meg_value)
        else:
            if decoder_tokens is not None:
                raise ValueError("This network predicts from the EEG alone (autoregressive=False): pass no MEG tokens.")
            t = memory.shape[1]
            y = self._output_codes(t, memory.device)
        y = y + stem[:, :t]
        mem = memory[:, :t]
        for layer in self.decoder:
            y = layer(y, mem)
        return y

    @staticmethod
    def shift_right(meg_tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: BOS then the MEG tokens of steps ``0..T-2``."""
        bos = torch.full_like(meg_tokens[..., :1], BOS)
        return torch.cat([bos, meg_tokens[..., :-1]], dim=-1)

    def logits(self, eeg_tokens: torch.Tensor, meg_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, n_chans_out, T, vocab)``: teacher-forced on ``meg_tokens`` when autoregressive."""
        if not self.autoregressive:
            return self.decode(self.encode(eeg_tokens))
        if meg_tokens is None or eeg_tokens.shape[-1] != meg_tokens.shape[-1]:
            got = None if meg_tokens is None else meg_tokens.shape[-1]
            raise ValueError(
                f"EEG and MEG token windows must have the same length (one token per sample); got "
                f"{eeg_tokens.shape[-1]} and {got}. Resample to a common rate first."
            )
        return self.decode(self.encode(eeg_tokens), self.shift_right(meg_tokens))

    def expected_values(self, logits: torch.Tensor) -> torch.Tensor:
        """Mean of the decoded distribution over levels, in scaled units ``[-1, 1]``: ``(..., C, T)``.

        The µ-law levels are dense near zero, so a spread distribution's mode
        (greedy decoding) is biased towards zero; its mean is the least-squares
        estimate.
        """
        levels = self.level_values(torch.arange(N_SPECIAL, self.vocab_size, device=logits.device))
        return (logits[..., N_SPECIAL:].float().softmax(-1) * levels).sum(-1)

    def expected_from_stream(self, y: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """:meth:`expected_values` of ``head(y)`` for a stream ``(B, T, C, d)``: ``(B, C, T)``.

        The same numbers without the ``(B, C, T, vocab)`` logits: the level rows of
        the head, softmax and the mean over levels run on ``chunk`` tokens at a
        time, which stay in the CPU cache (predicting is memory-bound otherwise).
        """
        b, t, c, d = y.shape
        weight, bias = self.head.weight[N_SPECIAL:], self.head.bias[N_SPECIAL:]
        levels = self.level_values(torch.arange(N_SPECIAL, self.vocab_size, device=y.device))
        flat = y.reshape(-1, d)
        out = [torch.addmm(bias, flat[i : i + chunk], weight.t()).float().softmax(-1) @ levels
               for i in range(0, flat.shape[0], chunk)]
        return torch.cat(out).view(b, t, c).transpose(1, 2)

    @torch.no_grad()
    def generate(
        self,
        eeg_tokens: torch.Tensor,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        return_logits: bool = False,
    ):
        """Generate MEG tokens: in one pass from the EEG, or step by step when autoregressive.

        Without ``autoregressive`` every step reads the EEG only and all steps
        come from one pass. With it, each step reads the steps before it;
        decoding is incremental (the time stage of every decoder layer caches
        the keys and values of past steps) and batched over windows.

        Parameters
        ----------
        eeg_tokens : LongTensor, shape (B, n_chans_in, T)
        strategy : {"expected", "greedy", "temperature", "top_k"}
            The level nearest the distribution's mean; arg-max; sampling from
            ``softmax(logits / temperature)``; the same restricted to the
            ``top_k`` most likely tokens.
        temperature : float
            > 0; used by the sampling strategies.
        top_k : int or None
            Tokens kept by ``"top_k"`` (required there).
        generator : torch.Generator or None
            Random source of the sampling strategies (on the tokens' device).
        seed : int or None
            Seeds a fresh generator instead (ignored when ``generator`` is given).
        return_logits : bool
            Also return the logits each step was drawn from (special tokens at -inf).

        Returns
        -------
        meg_tokens : LongTensor, shape (B, n_chans_out, T)
            Level tokens only (PAD/BOS/EOS are never generated).
        logits : Tensor, shape (B, n_chans_out, T, vocab)
            Only with ``return_logits=True``.
        """
        pick = _token_picker(strategy, temperature, top_k, self.vocab_size)
        if strategy in ("temperature", "top_k") and generator is None and seed is not None:
            generator = torch.Generator(device=eeg_tokens.device).manual_seed(int(seed))
        encoded = self.encode(eeg_tokens)
        if not self.autoregressive:  # one pass: every step reads the EEG only
            logits = self.decode(encoded)
            logits[..., :N_SPECIAL] = -torch.inf
            tokens = self._pick(pick, strategy, logits, generator)
            return (tokens, logits) if return_logits else tokens
        memory, stem = encoded
        b, t = eeg_tokens.shape[0], eeg_tokens.shape[2]
        token = torch.full((b, self.n_chans_out), BOS, dtype=torch.long, device=eeg_tokens.device)
        caches = [[] for _ in self.decoder]
        out, all_logits = [], []
        for step in range(t):
            # Step `step` reads the token generated at step - 1 and the cached keys of earlier steps.
            y = self._embed(token[..., None], self.meg_embedding, self.meg_value, start=step)
            y = y + stem[:, step : step + 1]
            for layer, cache in zip(self.decoder, caches):
                y = layer.step(y, memory[:, step : step + 1], cache, step)
            logits = self.head(y)[:, 0]
            logits[..., :N_SPECIAL] = -torch.inf
            token = self._pick(pick, strategy, logits, generator)
            out.append(token)
            all_logits.append(logits)
        tokens = torch.stack(out, dim=-1)
        return (tokens, torch.stack(all_logits, dim=2)) if return_logits else tokens

    def _pick(self, pick, strategy, logits, generator):
        """Tokens ``(B, C[, T])`` from logits ``(B, C[, T], vocab)``; "expected": the level nearest the mean."""
        if strategy != "expected":
            return pick(logits, generator)
        n_levels = self.vocab_size - N_SPECIAL
        z = mu_law_compand(self.expected_values(logits), self.tokenizer_params["mu"])
        return torch.round((z + 1.0) * ((n_levels - 1) / 2.0)).long() + N_SPECIAL

    # -- the mode's hooks (see base.EEGToMEGNetwork) ---------------------------------------
    @classmethod
    def data_kwargs(cls, X, Y):
        """Channel counts, and ``max_len``: the router table is sized to the training windows."""
        return {**super().data_kwargs(X, Y), "max_len": X.shape[2]}

    def check_windows(self, n_times_in, n_times_out):
        if n_times_in != n_times_out:
            raise ValueError(
                f"mode='tokens' needs one MEG sample per EEG sample (one token each); got windows of "
                f"{n_times_in} EEG and {n_times_out} MEG samples. Resample both to one rate first."
            )
        if n_times_in > self.max_len:
            raise ValueError(f"Windows of {n_times_in} samples exceed max_len={self.max_len}.")

    def prepare(self, eeg, meg):
        """Fit the robust scaling (median, clamp percentile) of every channel on the training windows."""
        x_tok = MuLawTokenizer(**self.tokenizer_params).fit(eeg)
        y_tok = MuLawTokenizer(**self.tokenizer_params).fit(meg)
        with torch.no_grad():
            for name, value in [("x_center", x_tok.center_), ("x_clip", x_tok.scale_),
                                ("y_center", y_tok.center_), ("y_clip", y_tok.scale_)]:
                getattr(self, name).copy_(torch.as_tensor(value))

    def training_output(self, eeg, meg):
        """Logits ``(B, n_chans_out, T, vocab)``: from the EEG alone, or teacher-forced when autoregressive."""
        et = self.eeg_tokens(eeg)
        return self.logits(et, self.meg_tokens(meg)) if self.autoregressive else self.logits(et)

    def loss(self, output, meg):
        """The training loss: cross-entropy (nats per token) of the logits against the targets.

        With ``target_sigma = 0`` the targets are the MEG tokens
        (:meth:`token_cross_entropy`); otherwise the Gaussian histograms of
        :func:`.tokens.level_targets` around the MEG samples' levels.
        """
        if self.target_sigma == 0:
            return self.token_cross_entropy(output, meg)
        n_levels = self.vocab_size - N_SPECIAL
        positions = level_positions(meg, self.y_center, self.y_clip, self.tokenizer_params["mu"], n_levels)
        index, weight = level_target_band(positions.float(), n_levels, self.target_sigma)
        # Special tokens get no target mass but stay in the softmax, as with plain cross-entropy.
        log_probs = output.float().log_softmax(-1)
        return -(weight * log_probs.gather(-1, index + N_SPECIAL)).sum(-1).mean()

    def token_cross_entropy(self, output, meg):
        """Cross-entropy (nats per token) of the MEG tokens under the logits, whatever the training target."""
        return token_cross_entropy(output, self.meg_tokens(meg))

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        """Predict MEG for standardised EEG ``(B, n_chans_in, T)``: standardised floats ``(B, n_chans_out, T)``.

        ``decoding="expected"`` returns the mean of each step's decoded
        distribution (not a level); the other strategies decode the tokens they pick.
        """
        opts = self.decoding_options
        if opts["strategy"] == "expected" and not self.autoregressive:
            # One pass; the head and the mean over levels fused (no logits tensor kept).
            values = self.expected_from_stream(self._stream(self.encode(self.eeg_tokens(eeg)))).double()
        else:
            tokens, logits = self.generate(self.eeg_tokens(eeg), **opts, return_logits=True)
            if opts["strategy"] != "expected":
                return self.meg_values(tokens)
            values = self.expected_values(logits).double()
        return (values * self.y_clip[:, None] + self.y_center[:, None]).float()


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per token; PAD targets are ignored.

    Parameters
    ----------
    logits : Tensor, shape (B, C, T, vocab)
    targets : LongTensor, shape (B, C, T)
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)


def _token_picker(strategy, temperature, top_k, vocab_size):
    """Validate decoding options once; return ``pick(logits (..., V), generator) -> tokens (...)``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
    if strategy in ("greedy", "expected"):  # "expected" is resolved by the network (it knows the levels)
        return lambda logits, generator: logits.argmax(dim=-1)
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0 for sampling; got {temperature!r}.")
    if strategy == "top_k" and (top_k is None or int(top_k) != top_k or not 1 <= top_k <= vocab_size - N_SPECIAL):
        raise ValueError(f"strategy='top_k' needs top_k, an integer in 1..{vocab_size - N_SPECIAL}; got {top_k!r}.")

    def pick(logits, generator):
        logits = logits / float(temperature)
        if strategy == "top_k":
            kth = logits.topk(int(top_k), dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, -torch.inf)
        probs = logits.softmax(dim=-1).reshape(-1, logits.shape[-1])
        return torch.multinomial(probs, 1, generator=generator).view(logits.shape[:-1])

    return pick
