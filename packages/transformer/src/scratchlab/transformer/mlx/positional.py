"""Positional information in MLX: learned, sinusoidal, RoPE, ALiBi, none.

Every variant has the same three entry points, so the model and attention never branch on
the name: ``embed(x, offset)`` adds absolute positions to the token embeddings, ``rotate(x,
offset)`` rotates queries or keys (B, H, T, hd), ``bias(offset, T, Tk)`` gives an additive
(H, T, Tk) score bias or None. ``offset`` is the absolute position of the first token (the
KV-cache length), which is what makes cached decoding exact. The factory is the class:
``(config, model_config, *, max_seq_len=1024)``; max_seq_len sizes the learned table and the
initial RoPE/sinusoidal tables. Tables come from
scratchlab.transformer.positions (NumPy), grow on demand, and live in attributes whose names
start with "_" so that they are not parameters.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from scratchlab.core.errors import ScratchlabError
from scratchlab.transformer import positions as P
from scratchlab.transformer.config import GPTConfig, RoPEConfig, SinusoidalConfig


class Positional(nn.Module):
    """No positions (``none``); the base of the others."""

    absolute = False  # embed() does something
    rotary = False  # rotate() does something
    has_bias = False  # bias() returns an array

    def embed(self, x: mx.array, offset: int) -> mx.array:
        return x

    def rotate(self, x: mx.array, offset: int) -> mx.array:
        return x

    def bias(self, offset: int, T: int, Tk: int) -> mx.array | None:
        return None


class NoPositions(Positional):
    def __init__(self, config: object, model_config: GPTConfig, *, max_seq_len: int = 1024) -> None:
        super().__init__()


class LearnedPositions(Positional):
    """One trained vector per position (GPT-2): ``wpe.weight`` of shape (max_seq_len, d)."""

    absolute = True

    def __init__(self, config: object, model_config: GPTConfig, *, max_seq_len: int = 1024) -> None:
        super().__init__()
        self.weight = mx.random.normal((max_seq_len, model_config.d_model)) * 0.02

    def embed(self, x: mx.array, offset: int) -> mx.array:
        T = x.shape[1]
        if offset + T > self.weight.shape[0]:
            raise ScratchlabError(
                f"position {offset + T - 1} is past the {self.weight.shape[0]} learned positions; "
                "learned positions cannot extrapolate (use rope, alibi, sinusoidal or none).")
        return x + self.weight[offset:offset + T]


class SinusoidalPositions(Positional):
    """The fixed sin/cos table of Vaswani et al., times ``scale``, added to the token embeddings."""

    absolute = True

    def __init__(self, config: SinusoidalConfig, model_config: GPTConfig, *, max_seq_len: int = 1024) -> None:
        super().__init__()
        self.base, self.d, self.scale = config.base, model_config.d_model, config.scale
        self._table = mx.array(self.scale * P.sinusoidal_table(max_seq_len, self.d, self.base))

    def embed(self, x: mx.array, offset: int) -> mx.array:
        T = x.shape[1]
        if offset + T > self._table.shape[0]:
            n = P.grow(offset + T, self._table.shape[0])
            self._table = mx.array(self.scale * P.sinusoidal_table(n, self.d, self.base))
        return x + self._table[offset:offset + T].astype(x.dtype)


class RoPE(Positional):
    """Rotary embedding: rotate each 2-D pair (x_a, x_b) of q and k by the angle m * theta_i.

    ``neox`` pairs dimension i with i + d/2 (HF Llama, mlx.nn.RoPE(traditional=False));
    ``interleaved`` pairs 2i with 2i+1 (the paper, traditional=True).
    """

    rotary = True

    def __init__(self, config: RoPEConfig, model_config: GPTConfig, *, max_seq_len: int = 1024) -> None:
        super().__init__()
        self.layout = config.layout
        self.inv_freq, self.scale = P.rope_inv_freq(model_config.head_dim, config)
        self._build(max_seq_len)

    def _build(self, length: int) -> None:
        cos, sin = P.rope_cos_sin(self.inv_freq, length, self.scale)
        self._cos, self._sin = mx.array(cos), mx.array(sin)

    def rotate(self, x: mx.array, offset: int) -> mx.array:
        T = x.shape[-2]
        if offset + T > self._cos.shape[0]:
            self._build(P.grow(offset + T, self._cos.shape[0]))
        cos = self._cos[offset:offset + T].astype(x.dtype)  # (T, d/2)
        sin = self._sin[offset:offset + T].astype(x.dtype)
        if self.layout == "neox":
            half = x.shape[-1] // 2
            x1, x2 = x[..., :half], x[..., half:]
            return mx.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
        xp = x.reshape(*x.shape[:-1], -1, 2)  # (..., d/2, 2): pairs (2i, 2i+1)
        x1, x2 = xp[..., 0], xp[..., 1]
        return mx.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).reshape(x.shape)


class ALiBi(Positional):
    """Attention with linear biases: score(i, j) -= slope_h * (i - j); nothing is embedded."""

    has_bias = True

    def __init__(self, config: object, model_config: GPTConfig, *, max_seq_len: int = 1024) -> None:
        super().__init__()
        self._slopes = mx.array(P.alibi_slopes(model_config.n_heads))

    def bias(self, offset: int, T: int, Tk: int) -> mx.array:
        q_pos = mx.arange(offset, offset + T)
        k_pos = mx.arange(Tk)
        dist = (q_pos[:, None] - k_pos[None, :]).astype(mx.float32)
        return -self._slopes[:, None, None] * dist  # (H, T, Tk)
