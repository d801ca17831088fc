"""Settings of the MoE feed-forward and its routers, shared by the torch and MLX twins."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from scratchlab.core.config import Choice, build_config, choice, resolve_choice


@dataclass
class SoftmaxRouterConfig:
    """Softmax over expert logits, keep the top-k (Shazeer 2017; Mixtral).

    ``noisy`` adds Gaussian noise scaled by a learned softplus(x W_noise) to the logits while
    training (noisy top-k gating), which spreads early routing decisions across experts.
    ``normalize`` rescales the k kept probabilities to sum to 1, as Mixtral does.
    """

    noisy: bool = False
    normalize: bool = True


@dataclass
class SigmoidRouterConfig:
    """Independent sigmoid scores per expert, keep the top-k (DeepSeek-V3 style).

    ``normalize`` divides the k kept scores by their sum, so the combine weights sum to 1.
    """

    normalize: bool = True


@dataclass
class MoEConfig:
    """A mixture-of-experts feed-forward: a router picks ``top_k`` of ``n_experts`` MLPs per token.

    ``hidden`` is the hidden size of one expert (the dense layers of non-MoE blocks use it too).
    ``capacity_factor`` None means no token is ever dropped; a number c gives each expert room
    for ceil(c * tokens * top_k / n_experts) assignments and drops the overflow (Switch).
    ``balance_coef`` is alpha of the Switch load-balancing loss, ``z_coef`` the weight of the
    router z-loss. ``every``: MoE in blocks where (layer + 1) % every == 0, dense MLP elsewhere.
    """

    n_experts: int = 8
    top_k: int = 2
    hidden: int = 256
    activation: Literal["gelu", "swiglu"] = "gelu"
    router: Any = choice("router", "softmax")
    n_shared: int = 0
    capacity_factor: float | None = None
    balance_coef: float = 0.01
    z_coef: float = 0.001
    every: int = 1

    def __post_init__(self) -> None:
        if self.n_experts < 1:
            raise ValueError(f"n_experts must be at least 1, got {self.n_experts}")
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"top_k must be between 1 and n_experts ({self.n_experts}), "
                             f"got {self.top_k}")
        if self.hidden < 1:
            raise ValueError(f"hidden must be positive, got {self.hidden}")
        if self.n_shared < 0:
            raise ValueError(f"n_shared must be 0 or more, got {self.n_shared}")
        if self.capacity_factor is not None and not self.capacity_factor > 0:
            raise ValueError(f"capacity_factor must be positive (or null for no dropping), "
                             f"got {self.capacity_factor}")
        if self.balance_coef < 0 or self.z_coef < 0:
            raise ValueError("balance_coef and z_coef must be 0 or more")
        if self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")

    def is_moe_layer(self, layer: int) -> bool:
        return (layer + 1) % self.every == 0


ROUTER_CONFIGS: dict[str, type] = {"softmax": SoftmaxRouterConfig, "sigmoid": SigmoidRouterConfig}


def router_choice(spec: Any) -> Choice:
    """The router a MoEConfig names, as a Choice. Our own routers resolve without the registry
    (so a broken plugin elsewhere cannot break a MoE); other names go through it."""
    if isinstance(spec, Choice):
        return spec
    name = spec if isinstance(spec, str) else (spec or {}).get("name")
    if name in ROUTER_CONFIGS:
        settings = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
        return Choice("router", name, build_config(ROUTER_CONFIGS[name], settings, "router"))
    resolved = resolve_choice("router", spec, "router")
    assert resolved is not None
    return resolved


def expert_capacity(n_tokens: int, top_k: int, n_experts: int,
                    capacity_factor: float | None) -> int:
    """Assignments one expert may take: ceil(c * T * k / E); every assignment when c is None."""
    if capacity_factor is None:
        return n_tokens * top_k
    return max(1, math.ceil(capacity_factor * n_tokens * top_k / n_experts))
