"""Causal multi-head self-attention in PyTorch, with GQA/MQA, a KV cache and a sliding window.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head) + B + M) V

with M = -inf above the diagonal (and beyond the window) and B the positional bias (ALiBi).
Query head h reads key/value head h // (n_heads / n_kv_heads). Two paths compute the same thing:
the explicit one writes every step out (and feeds ``hook_pattern``), the fused one calls
torch.nn.functional.scaled_dot_product_attention. Maths: docs/attention.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.transformer.config import AttentionConfig, GPTConfig
from scratchlab.transformer.torch.cache import LayerCache
from scratchlab.transformer.torch.hooks import HookPoint
from scratchlab.transformer.torch.positional import Positional


def attention_mask(offset: int, T: int, Tk: int, window: int | None,
                   device: torch.device) -> torch.Tensor:
    """(T, Tk) boolean, True where query offset+i may read key j: j <= i (and i - j < window)."""
    q_pos = torch.arange(offset, offset + T, device=device)[:, None]
    k_pos = torch.arange(Tk, device=device)[None, :]
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

    def forward(self, x: torch.Tensor, pos: Positional, cache: LayerCache | None = None,
                offset: int = 0) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.hook_q(self.q(x).view(B, T, self.n_heads, self.head_dim)).transpose(1, 2)
        k = self.hook_k(self.k(x).view(B, T, self.n_kv_heads, self.head_dim)).transpose(1, 2)
        v = self.hook_v(self.v(x).view(B, T, self.n_kv_heads, self.head_dim)).transpose(1, 2)
        if pos.rotary:  # rotate by absolute positions offset .. offset+T-1
            q, k = pos.rotate(q, offset), pos.rotate(k, offset)
        if cache is not None:  # append to the preallocated cache, read everything so far
            k, v = cache.update(k, v, offset)
        Tk = k.shape[2]
        bias = pos.bias(offset, T, Tk) if pos.has_bias else None
        if self.fused and not self.hook_pattern._hooks:
            y = self._fused(q, k, v, offset, bias)
        else:
            y = self._explicit(q, k, v, offset, bias)
        y = self.hook_z(y.transpose(1, 2))  # (B, T, H, hd)
        return self.resid_dropout(self.o(y.reshape(B, T, self.n_heads * self.head_dim)))

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int,
                  bias: torch.Tensor | None) -> torch.Tensor:
        group = self.n_heads // self.n_kv_heads
        if group > 1:  # head h reads kv head h // group
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        T, Tk = q.shape[2], k.shape[2]
        scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, T, Tk)
        if bias is not None:
            scores = scores + bias.to(scores.dtype)
        allowed = attention_mask(offset, T, Tk, self.window, q.device)
        scores = scores.masked_fill(~allowed, float("-inf"))
        pattern = self.hook_pattern(torch.softmax(scores.float(), dim=-1).to(q.dtype))
        return self.attn_dropout(pattern) @ v

    def _fused(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int,
               bias: torch.Tensor | None) -> torch.Tensor:
        T, Tk = q.shape[2], k.shape[2]
        dropout = self.dropout if self.training else 0.0
        gqa = self.n_kv_heads != self.n_heads
        if bias is None and self.window is None and (T == 1 or (Tk == T and offset == 0)):
            # plain causal prefill (is_causal) or one new token that sees every cached key
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=T > 1,
                                                  scale=self.scale, enable_gqa=gqa)
        allowed = attention_mask(offset, T, Tk, self.window, q.device)
        if bias is None:
            mask = allowed
        else:
            mask = bias.to(q.dtype).masked_fill(~allowed, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout,
                                              scale=self.scale, enable_gqa=gqa)
