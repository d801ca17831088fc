"""The router's auxiliary losses (derivations in docs/moe.md)."""

from __future__ import annotations

import torch


def balance_loss(probs: torch.Tensor, load: torch.Tensor) -> torch.Tensor:
    """Switch load-balancing loss N * sum_i f_i * P_i.

    ``load`` f (E,) is the fraction of assignments each expert received (counts, no gradient);
    ``probs`` (T, E) the router probabilities, whose mean P_i carries the gradient. It equals 1
    when routing is uniform and grows as probability mass piles onto the busiest experts.
    """
    n_experts = probs.shape[-1]
    return n_experts * (load.detach() * probs.mean(dim=0)).sum()


def z_loss(logits: torch.Tensor) -> torch.Tensor:
    """Router z-loss (ST-MoE): mean over tokens of logsumexp(logits)^2, keeps logits small."""
    return torch.logsumexp(logits, dim=-1).square().mean()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """-sum p log p in nats, with 0 log 0 = 0 (log E for a uniform load)."""
    return -(p * torch.log(torch.where(p > 0, p, torch.ones_like(p)))).sum()
