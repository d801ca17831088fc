"""LayerNorm and RMSNorm in PyTorch.

    LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) * w + b
    RMSNorm(x)   = x / sqrt(mean(x^2) + eps) * w          (no centring, no bias; Zhang & Sennrich)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.transformer.config import GPTConfig, NormConfig


class LayerNorm(nn.Module):
    def __init__(self, config: NormConfig, model_config: GPTConfig) -> None:
        super().__init__()
        d = model_config.d_model
        self.eps = config.eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if model_config.bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    def __init__(self, config: NormConfig, model_config: GPTConfig) -> None:
        super().__init__()
        self.eps = config.eps
        self.weight = nn.Parameter(torch.ones(model_config.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # the mean of squares in fp32 even under autocast (as HF Llama)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)
