"""LoRALinear: a frozen linear layer plus a trainable low-rank update. Mirrors torch/layer.py.

    h = W x + b + scale * B (A dropout(x))        A: (r, in), B: (out, r), scale = alpha / r

The layer keeps the wrapped layer's ``weight`` and ``bias`` under their own names, so the
model's parameters only gain ``<layer>.lora_A`` and ``<layer>.lora_B`` and a base checkpoint
still loads into it.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from scratchlab.lora.config import lora_scale


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                 rslora: bool = False, init: str = "kaiming") -> None:
        super().__init__()
        self.fan_in_fan_out = False  # MLX has no Conv1D layout; kept for symmetry with torch
        object.__setattr__(self, "_base", base)  # kept out of the parameters, for unload()
        self.weight = base.weight
        if "bias" in base:
            self.bias = base.bias
        d_out, d_in = self.weight.shape
        self.in_features, self.out_features = d_in, d_out
        self.r, self.alpha, self.scale = r, alpha, lora_scale(r, alpha, rslora)
        self.lora_A = mx.zeros((r, d_in), dtype=self.weight.dtype)
        self.lora_B = mx.zeros((d_out, r), dtype=self.weight.dtype)
        self.dropout = nn.Dropout(dropout)
        self.merged = False
        self.reset_lora(init)

    def reset_lora(self, init: str = "kaiming") -> None:
        """A random, B = 0: the adapter starts as an exact no-op, yet A's gradient-carrying
        path is open (if both were 0, neither would ever receive a gradient)."""
        shape, dtype = self.lora_A.shape, self.lora_A.dtype
        if init == "kaiming":  # torch's kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))
            bound = 1.0 / math.sqrt(self.in_features)
            self.lora_A = mx.random.uniform(-bound, bound, shape, dtype=dtype)
        elif init == "gaussian":  # peft's "gaussian": N(0, 1/r)
            self.lora_A = (mx.random.normal(shape) / self.r).astype(dtype)
        else:
            raise ValueError(f"unknown LoRA init '{init}'; use kaiming or gaussian")
        self.lora_B = mx.zeros(self.lora_B.shape, dtype=dtype)

    def delta_weight(self) -> mx.array:
        """scale * B A, in the layout of ``weight``."""
        return self.scale * (self.lora_B @ self.lora_A)

    def __call__(self, x: mx.array) -> mx.array:
        y = x @ self.weight.T
        if "bias" in self:
            y = y + self.bias
        if self.merged:
            return y
        return y + self.scale * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    def merge(self) -> None:
        """W <- W + scale B A: the adapted layer at the cost of the plain one."""
        if not self.merged:
            self.weight = self.weight + self.delta_weight().astype(self.weight.dtype)
            self.merged = True

    def unmerge(self) -> None:
        """W <- W - scale B A (equal to the original W up to one rounding per element)."""
        if self.merged:
            self.weight = self.weight - self.delta_weight().astype(self.weight.dtype)
            self.merged = False

    def unwrap(self) -> nn.Module:
        """The wrapped layer, holding this layer's (possibly merged) weight."""
        self._base.weight = self.weight
        if "bias" in self:
            self._base.bias = self.bias
        return self._base

    def _extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, r={self.r}, "
                f"scale={self.scale:g}, merged={self.merged}")
