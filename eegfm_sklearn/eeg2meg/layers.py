"""Layers shared by the EEG->MEG networks of every mode (torch only).

Sinusoidal codes, multi-head attention (with the key/value split that
incremental decoding caches), the feed-forward block, the Pre-LN attention
block and the decoder's per-time-step cross-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_code(n: int, d: int, device=None, dtype=None, start: int = 0) -> torch.Tensor:
    """Fixed sine/cosine code of indices ``start..start+n-1`` (time steps or channels), shape ``(n, d)``."""
    pos = torch.arange(start, start + n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    out = torch.zeros(n, d, device=device, dtype=torch.float32)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return out.to(dtype) if dtype is not None else out


class Attention(nn.Module):
    """Multi-head attention of ``query (N, Lq, d)`` over ``context (N, Lk, d)``."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}.")
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model, bias=bias)
        self.kv = nn.Linear(d_model, 2 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout

    def keys_values(self, context):
        """Keys and values ``(N, heads, Lk, d / heads)`` of ``context`` (what a decoder caches)."""
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


class FeedForward(nn.Module):
    """``Linear -> GELU -> Dropout -> Linear``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x):
        return self.net(x)


class PreLNBlock(nn.Module):
    """``x + attn(LN(x), LN(ctx))`` then ``x + ffn(LN(x))``; ``ctx=None`` is self-attention."""

    def __init__(self, d_model, n_heads, d_ff, dropout, cross=False, bias=True):
        super().__init__()
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model) if cross else None
        self.attn = Attention(d_model, n_heads, dropout, bias=bias)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, ctx=None, causal: bool = False):
        q = self.norm_q(x)
        kv = q if ctx is None else self.norm_kv(ctx)
        x = x + self.drop(self.attn(q, kv, causal=causal))
        return x + self.drop(self.ff(self.norm_ff(x)))


def cross_per_step(block: PreLNBlock, y: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """At each time step, the MEG channel tokens attend to the EEG channel tokens of that step.

    ``y (B, T, C_out, d)``, ``memory (B, T, C_in, d)`` -> ``(B, T, C_out, d)``.
    """
    b, t, c_out, d = y.shape
    out = block(y.reshape(b * t, c_out, d), memory.reshape(b * t, memory.shape[2], d))
    return out.view(b, t, c_out, d)
