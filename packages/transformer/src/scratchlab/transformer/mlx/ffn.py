"""Feed-forward sublayers in MLX: the ``ffn`` kind, factory ``(config, d_model, *, layer,
n_layers)``. ``mlp``: proj(act(fc(x))); ``swiglu``: down(silu(gate(x)) * up(x)); ``none``: no
sublayer at all (the Block skips it)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from scratchlab.transformer.config import MLPConfig, NoFFNConfig, SwiGLUConfig
from scratchlab.transformer.mlx.fastmath import gelu

ACTIVATIONS = {
    "gelu": gelu,  # nn.gelu's erf is scalar on MLX's CPU backend: fastmath.py
    "gelu_tanh": nn.gelu_approx,
    "relu": nn.relu,
}


class MLP(nn.Module):
    def __init__(self, config: MLPConfig, d_model: int, *, layer: int = 0, n_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = config.hidden or 4 * d_model
        self.fc = nn.Linear(d_model, hidden, bias=bias)
        self.proj = nn.Linear(hidden, d_model, bias=bias)
        self.act = ACTIVATIONS[config.activation]
        self.dropout = nn.Dropout(dropout)

    def __call__(self, x: mx.array) -> mx.array:
        return self.dropout(self.proj(self.act(self.fc(x))))


class SwiGLU(nn.Module):
    def __init__(self, config: SwiGLUConfig, d_model: int, *, layer: int = 0, n_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = config.hidden_size(d_model)
        self.gate = nn.Linear(d_model, hidden, bias=bias)
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.down = nn.Linear(hidden, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def __call__(self, x: mx.array) -> mx.array:
        return self.dropout(self.down(nn.silu(self.gate(x)) * self.up(x)))


class NoFFN(nn.Module):
    """No feed-forward: the Block sees ``skip`` and leaves the residual stream alone."""

    skip = True

    def __init__(self, config: NoFFNConfig | None, d_model: int, *, layer: int = 0,
                 n_layers: int = 1, **_: object) -> None:
        super().__init__()

    def __call__(self, x: mx.array) -> mx.array:
        return mx.zeros_like(x)
