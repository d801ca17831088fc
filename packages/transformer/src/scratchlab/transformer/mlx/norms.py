"""LayerNorm and RMSNorm in MLX.

    LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) * w + b
    RMSNorm(x)   = x / sqrt(mean(x^2) + eps) * w          (no centring, no bias; Zhang & Sennrich)
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from scratchlab.transformer.config import GPTConfig, NormConfig


class LayerNorm(nn.Module):
    def __init__(self, config: NormConfig, model_config: GPTConfig) -> None:
        super().__init__()
        d = model_config.d_model
        self.eps = config.eps
        self.weight = mx.ones((d,))
        if model_config.bias:
            self.bias = mx.zeros((d,))

    def __call__(self, x: mx.array) -> mx.array:
        return mx.fast.layer_norm(x, self.weight, self.get("bias"), self.eps)


class RMSNorm(nn.Module):
    def __init__(self, config: NormConfig, model_config: GPTConfig) -> None:
        super().__init__()
        self.eps = config.eps
        self.weight = mx.ones((model_config.d_model,))

    def __call__(self, x: mx.array) -> mx.array:
        return mx.fast.rms_norm(x, self.weight, self.eps)  # accumulates in fp32
