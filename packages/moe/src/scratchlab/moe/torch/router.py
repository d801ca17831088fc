"""Routers: per token, which ``top_k`` experts and with what combine weights.

Router maths runs in fp32 whatever the activations' dtype: the softmax over expert logits and
the logsumexp of the z-loss are where low precision hurts first (Switch Transformer, sec. 2.4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.moe.config import SigmoidRouterConfig, SoftmaxRouterConfig, router_choice


class Routing(NamedTuple):
    weights: torch.Tensor  # (T, k) fp32 combine weights of the chosen experts
    indices: torch.Tensor  # (T, k) int64 chosen experts, best first
    logits: torch.Tensor   # (T, E) fp32 router logits (for the z-loss)
    probs: torch.Tensor    # (T, E) fp32 router probabilities P (for the balancing loss)


class SoftmaxRouter(nn.Module):
    """p = softmax(x W^T); keep the top-k p, renormalised to sum to 1 (Mixtral).

    With ``noisy`` (Shazeer et al. 2017), training adds N(0, 1) * softplus(x W_noise^T) to the
    logits before choosing, so that experts the router is unsure about still get traffic.
    """

    def __init__(self, config: SoftmaxRouterConfig, d_model: int, n_experts: int) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.randn(n_experts, d_model) * 0.02)
        if config.noisy:
            self.noise_weight = nn.Parameter(torch.zeros(n_experts, d_model))

    def forward(self, x: torch.Tensor, top_k: int) -> Routing:
        x = x.float()
        logits = x @ self.weight.float().T
        if self.config.noisy and self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(x @ self.noise_weight.float().T)
        probs = torch.softmax(logits, dim=-1)
        weights, indices = torch.topk(probs, top_k, dim=-1)
        if self.config.normalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return Routing(weights, indices, logits, probs)


class SigmoidRouter(nn.Module):
    """s = sigmoid(x W^T), each expert scored on its own; keep the top-k s (DeepSeek-V3).

    For the balancing loss the scores are normalised per token (P = s / sum s) so that P is a
    distribution over experts as with softmax.
    """

    def __init__(self, config: SigmoidRouterConfig, d_model: int, n_experts: int) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.randn(n_experts, d_model) * 0.02)

    def forward(self, x: torch.Tensor, top_k: int) -> Routing:
        logits = x.float() @ self.weight.float().T
        scores = torch.sigmoid(logits)
        weights, indices = torch.topk(scores, top_k, dim=-1)
        if self.config.normalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        probs = scores / scores.sum(dim=-1, keepdim=True)
        return Routing(weights, indices, logits, probs)


ROUTERS = {"softmax": SoftmaxRouter, "sigmoid": SigmoidRouter}


def build_router(spec: Any, d_model: int, n_experts: int) -> Any:
    """A router module from a MoEConfig's ``router`` (a name, a mapping or a Choice)."""
    choice = router_choice(spec)
    if choice.name in ROUTERS:
        return ROUTERS[choice.name](choice.config, d_model, n_experts)
    return choice.build("torch", d_model, n_experts)
