"""Causal multi-head self-attention in MLX, with GQA/MQA, a KV cache and a sliding window.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head) + B + M) V

with M = -inf above the diagonal (and beyond the window) and B the positional bias (ALiBi).
Query head h reads key/value head h // (n_heads / n_kv_heads). Two paths compute the same thing:
the explicit one writes every step out (and feeds ``hook_pattern``), the fused one calls
mx.fast.scaled_dot_product_attention (which has no dropout: with dropout > 0 in training the
explicit path runs). Maths: docs/attention.md.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from scratchlab.transformer.config import AttentionConfig, GPTConfig
from scratchlab.transformer.mlx.cache import LayerCache
from scratchlab.transformer.mlx.fastmath import softmax
from scratchlab.transformer.mlx.hooks import HookPoint
from scratchlab.transformer.mlx.positional import Positional


def attention_mask(offset: int, T: int, Tk: int, window: int | None) -> mx.array:
    """(T, Tk) boolean, True where query offset+i may read key j: j <= i (and i - j < window)."""
    q_pos = mx.arange(offset, offset + T)[:, None]
    k_pos = mx.arange(Tk)[None, :]
    allowed = k_pos <= q_pos
    if window is not None:
        allowed = allowed & (q_pos - k_pos < window)
    return allowed


class CausalSelfAttention(nn.Module):
    def __init__(self, config: AttentionConfig, model_config: GPTConfig) -> None:
        super().__init__()
        c = model_config
        self.n_heads, self.n_kv_heads, self.head_dim = c.n_heads, c.kv_heads, c.head_dim
        self.fused, self.window, self.dropout = config.fused, config.window, c.dropout
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q = nn.Linear(c.d_model, self.n_heads * self.head_dim, bias=c.bias)
        self.k = nn.Linear(c.d_model, self.n_kv_heads * self.head_dim, bias=c.bias)
        self.v = nn.Linear(c.d_model, self.n_kv_heads * self.head_dim, bias=c.bias)
        self.o = nn.Linear(self.n_heads * self.head_dim, c.d_model, bias=c.bias)
        self.attn_dropout = nn.Dropout(c.dropout)
        self.resid_dropout = nn.Dropout(c.dropout)
        # TransformerLens shapes: q/k/v/z (B, T, H, hd), pattern (B, H, T, Tk)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern, self.hook_z = HookPoint(), HookPoint()

    def __call__(self, x: mx.array, pos: Positional, cache: LayerCache | None = None,
                 offset: int = 0) -> mx.array:
        B, T, _ = x.shape
        q = self.hook_q(self.q(x).reshape(B, T, self.n_heads, self.head_dim)).transpose(0, 2, 1, 3)
        k = self.hook_k(self.k(x).reshape(B, T, self.n_kv_heads, self.head_dim)).transpose(0, 2, 1, 3)
        v = self.hook_v(self.v(x).reshape(B, T, self.n_kv_heads, self.head_dim)).transpose(0, 2, 1, 3)
        if pos.rotary:  # rotate by absolute positions offset .. offset+T-1
            q, k = pos.rotate(q, offset), pos.rotate(k, offset)
        if cache is not None:  # append to the preallocated cache, read everything so far
            k, v = cache.update(k, v, offset)
        Tk = k.shape[2]
        bias = pos.bias(offset, T, Tk) if pos.has_bias else None
        drop = self.training and self.dropout > 0
        if self.fused and not drop and not self.hook_pattern._hooks:
            y = self._fused(q, k, v, offset, bias)
        else:
            y = self._explicit(q, k, v, offset, bias)
        y = self.hook_z(y.transpose(0, 2, 1, 3))  # (B, T, H, hd)
        return self.resid_dropout(self.o(y.reshape(B, T, self.n_heads * self.head_dim)))

    def _explicit(self, q: mx.array, k: mx.array, v: mx.array, offset: int,
                  bias: mx.array | None) -> mx.array:
        group = self.n_heads // self.n_kv_heads
        if group > 1:  # head h reads kv head h // group
            k, v = mx.repeat(k, group, axis=1), mx.repeat(v, group, axis=1)
        T, Tk = q.shape[2], k.shape[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * self.scale  # (B, H, T, Tk)
        if bias is not None:
            scores = scores + bias.astype(scores.dtype)
        allowed = attention_mask(offset, T, Tk, self.window)
        scores = mx.where(allowed, scores, mx.array(-mx.inf, scores.dtype))
        pattern = self.hook_pattern(softmax(scores.astype(mx.float32)).astype(q.dtype))
        return self.attn_dropout(pattern) @ v

    def _fused(self, q: mx.array, k: mx.array, v: mx.array, offset: int,
               bias: mx.array | None) -> mx.array:
        T, Tk = q.shape[2], k.shape[2]
        if bias is None and self.window is None and (T == 1 or (Tk == T and offset == 0)):
            # plain causal prefill or one new token that sees every cached key
            return mx.fast.scaled_dot_product_attention(
                q, k, v, scale=self.scale, mask="causal" if T > 1 else None)
        allowed = attention_mask(offset, T, Tk, self.window)
        if bias is None:
            mask = allowed
        else:
            mask = mx.where(allowed, bias.astype(q.dtype), mx.array(-mx.inf, q.dtype))
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
