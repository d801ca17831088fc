"""Routers: per token, which ``top_k`` experts and with what combine weights.

Router maths runs in fp32 whatever the activations' dtype: the softmax over expert logits and
the logsumexp of the z-loss are where low precision hurts first (Switch Transformer, sec. 2.4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import mlx.core as mx
import mlx.nn as nn

from scratchlab.moe.config import SigmoidRouterConfig, SoftmaxRouterConfig, router_choice


class Routing(NamedTuple):
    weights: mx.array  # (T, k) fp32 combine weights of the chosen experts
    indices: mx.array  # (T, k) int32 chosen experts, best first
    logits: mx.array   # (T, E) fp32 router logits (for the z-loss)
    probs: mx.array    # (T, E) fp32 router probabilities P (for the balancing loss)


def topk(scores: mx.array, k: int) -> tuple[mx.array, mx.array]:
    """The k largest scores per row, best first, with their indices (torch.topk's contract)."""
    indices = mx.stop_gradient(mx.argsort(-scores, axis=-1)[..., :k])  # integers: no gradient
    return mx.take_along_axis(scores, indices, axis=-1), indices


class SoftmaxRouter(nn.Module):
    """p = softmax(x W^T); keep the top-k p, renormalised to sum to 1 (Mixtral).

    With ``noisy`` (Shazeer et al. 2017), training adds N(0, 1) * softplus(x W_noise^T) to the
    logits before choosing, so that experts the router is unsure about still get traffic.
    """

    def __init__(self, config: SoftmaxRouterConfig, d_model: int, n_experts: int) -> None:
        super().__init__()
        self.config = config
        self.weight = mx.random.normal((n_experts, d_model)) * 0.02
        if config.noisy:
            self.noise_weight = mx.zeros((n_experts, d_model))

    def __call__(self, x: mx.array, top_k: int) -> Routing:
        x = x.astype(mx.float32)
        logits = x @ self.weight.astype(mx.float32).T
        if self.config.noisy and self.training:
            noise_std = nn.softplus(x @ self.noise_weight.astype(mx.float32).T)
            logits = logits + mx.random.normal(logits.shape) * noise_std
        probs = mx.softmax(logits, axis=-1, precise=True)
        weights, indices = topk(probs, top_k)
        if self.config.normalize:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        return Routing(weights, indices, logits, probs)


class SigmoidRouter(nn.Module):
    """s = sigmoid(x W^T), each expert scored on its own; keep the top-k s (DeepSeek-V3).

    For the balancing loss the scores are normalised per token (P = s / sum s) so that P is a
    distribution over experts as with softmax.
    """

    def __init__(self, config: SigmoidRouterConfig, d_model: int, n_experts: int) -> None:
        super().__init__()
        self.config = config
        self.weight = mx.random.normal((n_experts, d_model)) * 0.02

    def __call__(self, x: mx.array, top_k: int) -> Routing:
        logits = x.astype(mx.float32) @ self.weight.astype(mx.float32).T
        scores = mx.sigmoid(logits)
        weights, indices = topk(scores, top_k)
        if self.config.normalize:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        probs = scores / scores.sum(axis=-1, keepdims=True)
        return Routing(weights, indices, logits, probs)


ROUTERS = {"softmax": SoftmaxRouter, "sigmoid": SigmoidRouter}


def build_router(spec: Any, d_model: int, n_experts: int) -> Any:
    """A router module from a MoEConfig's ``router`` (a name, a mapping or a Choice)."""
    choice = router_choice(spec)
    if choice.name in ROUTERS:
        return ROUTERS[choice.name](choice.config, d_model, n_experts)
    return choice.build("mlx", d_model, n_experts)
