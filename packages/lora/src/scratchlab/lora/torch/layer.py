"""LoRALinear: a frozen linear layer plus a trainable low-rank update. Mirrors mlx/layer.py.

    h = W x + b + scale * B (A dropout(x))        A: (r, in), B: (out, r), scale = alpha / r

The layer keeps the wrapped layer's ``weight`` and ``bias`` under their own names, so the
model's state dict only gains ``<layer>.lora_A`` and ``<layer>.lora_B`` and a base checkpoint
still loads into it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.lora.config import lora_scale


class LoRALinear(nn.Module):
    weight: nn.Parameter
    bias: nn.Parameter | None
    _base: nn.Module

    def __init__(self, base: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                 rslora: bool = False, init: str = "kaiming") -> None:
        super().__init__()
        # HF GPT-2's Conv1D stores W as (in, out) and computes x W: peft's fan_in_fan_out
        self.fan_in_fan_out = type(base).__name__ == "Conv1D"
        self.__dict__["_base"] = base  # kept unregistered, to put back by unload()
        self.weight = base.weight  # type: ignore[assignment]
        self.bias = base.bias  # type: ignore[assignment]
        d_out, d_in = self.weight.shape[::-1] if self.fan_in_fan_out else self.weight.shape
        self.in_features, self.out_features = d_in, d_out
        self.r, self.alpha, self.scale = r, alpha, lora_scale(r, alpha, rslora)
        device, dtype = self.weight.device, self.weight.dtype
        self.lora_A = nn.Parameter(torch.empty(r, d_in, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(d_out, r, device=device, dtype=dtype))
        self.dropout = nn.Dropout(dropout)
        self.merged = False
        self.reset_lora(init)

    def reset_lora(self, init: str = "kaiming") -> None:
        """A random, B = 0: the adapter starts as an exact no-op, yet A's gradient-carrying
        path is open (if both were 0, neither would ever receive a gradient)."""
        with torch.no_grad():
            if init == "kaiming":  # nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in))
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            elif init == "gaussian":  # peft's "gaussian": N(0, 1/r)
                nn.init.normal_(self.lora_A, std=1.0 / self.r)
            else:
                raise ValueError(f"unknown LoRA init '{init}'; use kaiming or gaussian")
            self.lora_B.zero_()

    def delta_weight(self) -> torch.Tensor:
        """scale * B A, in the layout of ``weight``."""
        delta = self.scale * (self.lora_B @ self.lora_A)
        return delta.T if self.fan_in_fan_out else delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.T if self.fan_in_fan_out else self.weight
        y = F.linear(x, w, self.bias)
        if self.merged:
            return y
        return y + self.scale * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> None:
        """W <- W + scale B A: the adapted layer at the cost of the plain one."""
        if not self.merged:
            self.weight.add_(self.delta_weight().to(self.weight.dtype))
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W <- W - scale B A (equal to the original W up to one rounding per element)."""
        if self.merged:
            self.weight.sub_(self.delta_weight().to(self.weight.dtype))
            self.merged = False

    def unwrap(self) -> nn.Module:
        """The wrapped layer, holding this layer's (possibly merged) weight."""
        self._base.weight, self._base.bias = self.weight, self.bias  # type: ignore[assignment]
        return self._base

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, r={self.r}, "
                f"scale={self.scale:g}, merged={self.merged}")
