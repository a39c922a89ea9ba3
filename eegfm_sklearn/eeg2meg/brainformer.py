"""The token network of ``mode="tokens"``: a Brainformer-style encoder-decoder over sample tokens.

Every sample of every channel is one token (:mod:`.tokens`: 258 entries). A
window is a grid ``(time, channel)`` of ``d_model`` vectors: the token
embedding plus a sinusoidal time code and a fixed sinusoidal channel code,
the sum scaled by ``sqrt(d_model)`` (as the reference does).

* Encoder: two-stage attention layers. Stage 1 attends along time within each
  channel (then an MLP); stage 2 mixes channels at each time step through
  ``n_routers`` learned router vectors *of that time position* (a table of
  ``max_len`` router sets): the routers gather from all channels, every
  channel reads the routers back (then an MLP).
* Decoder: the MEG tokens shifted right by one step with BOS in front
  (teacher forcing); the same two-stage layers with a causal time mask, then
  at each time step cross-attention from the MEG channel tokens to the EEG
  channel tokens of the same step.
* Pre-LN throughout, a final LayerNorm, ``Linear(d_model, 258)`` per token,
  cross-entropy over the vocabulary.
* :meth:`BrainformerNetwork.generate` decodes autoregressively over time
  (greedy, temperature or top-k sampling).

Departures from the reference are listed in ``docs/guide/eeg2meg.md`` (token mode).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import EEGToMEGNetwork
from .tokens import (
    BOS,
    MU,
    N_LEVELS,
    N_SPECIAL,
    PAD,
    MuLawTokenizer,
    decode_tensor,
    encode_tensor,
)

STRATEGIES = ("greedy", "temperature", "top_k")

# The reference's configuration (its Seq2SeqCrossConfig defaults and training script), as
# EEGToMEGRegressor parameters: EEGToMEGRegressor(mode="tokens", **REFERENCE_CONFIG).
REFERENCE_CONFIG = dict(
    d_model=64, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, d_ff=512, dropout=0.1,
    n_routers=10, lr=3e-4, weight_decay=0.01,
)


def sinusoidal_code(n: int, d: int, device=None, start: int = 0) -> torch.Tensor:
    """Fixed sine/cosine code of indices ``start..start+n-1``, shape ``(n, d)`` (time steps or channels)."""
    pos = torch.arange(start, start + n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    out = torch.zeros(n, d, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return out


class MultiHead(nn.Module):
    """Multi-head attention of ``query (N, Lq, d)`` over ``context (N, Lk, d)``, bias-free."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.kv = nn.Linear(d_model, 2 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def keys_values(self, context):
        """Keys and values ``(N, heads, Lk, d / heads)`` of ``context``."""
        n, lk, d = context.shape
        h = self.n_heads
        return self.kv(context).view(n, lk, 2, h, d // h).permute(2, 0, 3, 1, 4)

    def attend(self, query, k, v, causal: bool = False):
        n, lq, d = query.shape
        h = self.n_heads
        q = self.q(query).view(n, lq, h, d // h).transpose(1, 2)
        drop = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=causal)
        return self.out(o.transpose(1, 2).reshape(n, lq, d))

    def forward(self, query, context, causal: bool = False):
        k, v = self.keys_values(context)
        return self.attend(query, k, v, causal)


def mlp(d_model: int, d_ff: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


class TwoStageLayer(nn.Module):
    """Time stage (self-attention along time per channel + MLP), then router channel stage + MLP.

    Input and output ``(B, T, C, d)``. ``causal=True`` masks future time steps.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers, max_len, causal):
        super().__init__()
        self.causal = causal
        self.norm_time = nn.LayerNorm(d_model)
        self.time_attn = MultiHead(d_model, n_heads, dropout)
        self.norm_time_ff = nn.LayerNorm(d_model)
        self.time_ff = mlp(d_model, d_ff)
        # One set of routers per time position (the reference's (length + 1, routers, d) table).
        self.routers = nn.Parameter(torch.randn(max_len, n_routers, d_model))
        self.norm_routers = nn.LayerNorm(d_model)
        self.norm_channel = nn.LayerNorm(d_model)
        self.gather = MultiHead(d_model, n_heads, dropout)
        self.scatter = MultiHead(d_model, n_heads, dropout)
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


class StepCrossAttention(nn.Module):
    """At each time step, MEG channel tokens attend to the EEG channel tokens of that step."""

    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model)
        self.attn = MultiHead(d_model, n_heads, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, y, memory):  # y (B, T, C_out, d), memory (B, T, C_in, d)
        b, t, c_out, d = y.shape
        q = self.norm_q(y).reshape(b * t, c_out, d)
        kv = self.norm_kv(memory).reshape(b * t, memory.shape[2], d)
        return y + self.drop(self.attn(q, kv).view(b, t, c_out, d))


class DecoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout, n_routers, max_len):
        super().__init__()
        self.self_stage = TwoStageLayer(d_model, n_heads, d_ff, dropout, n_routers, max_len, causal=True)
        self.cross = StepCrossAttention(d_model, n_heads, dropout)

    def forward(self, y, memory):
        return self.cross(self.self_stage(y), memory)

    def step(self, y, memory_t, cache, t):
        return self.cross(self.self_stage.step(y, cache, t), memory_t)


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
    decoding : {"greedy", "temperature", "top_k"}, default="greedy"
        How :meth:`forward` picks each generated token (see :meth:`generate`).
    decoding_temperature : float, default=1.0
        Softmax temperature of the sampling strategies.
    decoding_top_k : int or None, default=None
        Tokens kept by ``decoding="top_k"``. (Not ``temperature`` / ``top_k``:
        ``transformers`` reserves those names for its own ``generate``.)
    mu : float, default=255.0
        µ-law constant.
    n_levels : int, default=255
        Quantisation levels; the vocabulary has ``n_levels + 3`` entries.
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
        decoding: str = "greedy",
        decoding_temperature: float = 1.0,
        decoding_top_k: int | None = None,
        mu: float = MU,
        n_levels: int = N_LEVELS,
    ):
        super().__init__(
            n_chans_in=n_chans_in, n_chans_out=n_chans_out, d_model=d_model, n_heads=n_heads,
            n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers, d_ff=d_ff,
            dropout=dropout, n_routers=n_routers, max_len=max_len, clip_percentile=clip_percentile,
            decoding=decoding, decoding_temperature=decoding_temperature, decoding_top_k=decoding_top_k,
            mu=mu, n_levels=n_levels,
        )
        d_ff = 2 * d_model if d_ff is None else d_ff
        for name, val, low in [
            ("d_model", d_model, 2), ("n_heads", n_heads, 1), ("n_encoder_layers", n_encoder_layers, 0),
            ("n_decoder_layers", n_decoder_layers, 1), ("d_ff", d_ff, 1), ("n_routers", n_routers, 1),
            ("max_len", max_len, 1), ("n_levels", n_levels, 3),
        ]:
            if int(val) != val or val < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {val!r}.")
        if d_model % n_heads or d_model % 2:
            raise ValueError(f"d_model={d_model} must be even and a multiple of n_heads={n_heads}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        self.tokenizer_params = dict(clip_percentile=clip_percentile, mu=float(mu), n_levels=int(n_levels))
        MuLawTokenizer(**self.tokenizer_params)._check_params()
        self.vocab_size = int(n_levels) + N_SPECIAL
        self.set_decoding(decoding, decoding_temperature, decoding_top_k)  # fail at build, not at predict
        self.d_model, self.max_len = int(d_model), int(max_len)

        self.eeg_embedding = nn.Embedding(self.vocab_size, d_model)
        self.meg_embedding = nn.Embedding(self.vocab_size, d_model)
        # Time steps and channel indices get fixed codes, computed when used: nothing to train or
        # save, and nothing a loader that builds the module on the meta device could leave empty.
        args = (d_model, n_heads, d_ff, dropout, n_routers, max_len)
        self.encoder = nn.ModuleList(TwoStageLayer(*args, causal=False) for _ in range(n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*args) for _ in range(n_decoder_layers))
        self.final_norm = nn.LayerNorm(d_model)
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

    def _embed(self, tokens: torch.Tensor, table: nn.Embedding, start: int = 0) -> torch.Tensor:
        """``(B, C, T)`` tokens of steps ``start..`` -> ``(B, T, C, d)``: (token + time + channel) * sqrt(d)."""
        _, c, t = tokens.shape
        if start + t > self.max_len:
            raise ValueError(
                f"Windows of {start + t} samples exceed max_len={self.max_len} (the per-position router "
                "table, sized by the training windows): cut windows of at most that many samples."
            )
        e = table(tokens.transpose(1, 2))
        e = e + sinusoidal_code(t, self.d_model, e.device, start)[:, None] + sinusoidal_code(c, self.d_model, e.device)
        return e * math.sqrt(self.d_model)

    def _check_tokens(self, tokens, n_chans, what):
        if tokens.dim() != 3 or tokens.shape[1] != n_chans:
            raise ValueError(f"{what} tokens must have shape (batch, {n_chans}, time); got {tuple(tokens.shape)}.")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"{what} tokens must be integers; got {tokens.dtype}.")

    # -- passes over tokens -------------------------------------------------------------------
    def encode(self, eeg_tokens: torch.Tensor) -> torch.Tensor:
        """EEG tokens ``(B, n_chans_in, T)`` -> encoder memory ``(B, T, n_chans_in, d)``."""
        self._check_tokens(eeg_tokens, self.n_chans_in, "EEG")
        h = self._embed(eeg_tokens, self.eeg_embedding)
        for layer in self.encoder:
            h = layer(h)
        return h

    def decode(self, memory: torch.Tensor, decoder_tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_chans_out, T', vocab)`` for decoder inputs ``(B, n_chans_out, T')``, ``T' <= T``.

        Position ``t`` of the input holds the MEG token of step ``t - 1`` (BOS at
        ``t = 0``); position ``t`` of the output scores the MEG token of step ``t``
        and cross-attends to the EEG of step ``t``.
        """
        self._check_tokens(decoder_tokens, self.n_chans_out, "MEG")
        t = decoder_tokens.shape[2]
        y = self._embed(decoder_tokens, self.meg_embedding)
        mem = memory[:, :t]
        for layer in self.decoder:
            y = layer(y, mem)
        return self.head(self.final_norm(y)).transpose(1, 2)

    @staticmethod
    def shift_right(meg_tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: BOS then the MEG tokens of steps ``0..T-2``."""
        bos = torch.full_like(meg_tokens[..., :1], BOS)
        return torch.cat([bos, meg_tokens[..., :-1]], dim=-1)

    def logits(self, eeg_tokens: torch.Tensor, meg_tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, n_chans_out, T, vocab)`` for MEG tokens ``(B, n_chans_out, T)``."""
        if eeg_tokens.shape[-1] != meg_tokens.shape[-1]:
            raise ValueError(
                f"EEG and MEG token windows must have the same length (one token per sample); got "
                f"{eeg_tokens.shape[-1]} and {meg_tokens.shape[-1]}. Resample to a common rate first."
            )
        return self.decode(self.encode(eeg_tokens), self.shift_right(meg_tokens))

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
        """Generate MEG tokens step by step, each step from the steps before it.

        Decoding is incremental: the time stage of every decoder layer caches the
        keys and values of past steps, so a window costs about one forward pass.

        Parameters
        ----------
        eeg_tokens : LongTensor, shape (B, n_chans_in, T)
        strategy : {"greedy", "temperature", "top_k"}
            Arg-max; sampling from ``softmax(logits / temperature)``; the same
            restricted to the ``top_k`` most likely tokens.
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
        if strategy != "greedy" and generator is None and seed is not None:
            generator = torch.Generator(device=eeg_tokens.device).manual_seed(int(seed))
        memory = self.encode(eeg_tokens)
        b, t = eeg_tokens.shape[0], eeg_tokens.shape[2]
        token = torch.full((b, self.n_chans_out), BOS, dtype=torch.long, device=eeg_tokens.device)
        caches = [[] for _ in self.decoder]
        out, all_logits = [], []
        for step in range(t):
            # Step `step` reads the token generated at step - 1 and the cached keys of earlier steps.
            y = self._embed(token[..., None], self.meg_embedding, start=step)
            for layer, cache in zip(self.decoder, caches):
                y = layer.step(y, memory[:, step : step + 1], cache, step)
            logits = self.head(self.final_norm(y))[:, 0]
            logits[..., :N_SPECIAL] = -torch.inf
            token = pick(logits, generator)
            out.append(token)
            all_logits.append(logits)
        tokens = torch.stack(out, dim=-1)
        return (tokens, torch.stack(all_logits, dim=2)) if return_logits else tokens

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
        """Teacher-forced logits ``(B, n_chans_out, T, vocab)``."""
        return self.logits(self.eeg_tokens(eeg), self.meg_tokens(meg))

    def loss(self, output, meg):
        """Cross-entropy (nats per token) of the MEG tokens under the logits."""
        return token_cross_entropy(output, self.meg_tokens(meg))

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        """Generate MEG for standardised EEG ``(B, n_chans_in, T)``: standardised floats ``(B, n_chans_out, T)``."""
        return self.meg_values(self.generate(self.eeg_tokens(eeg), **self.decoding_options))


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
    if strategy == "greedy":
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
