"""The router's auxiliary losses (derivations in docs/moe.md)."""

from __future__ import annotations

import mlx.core as mx


def balance_loss(probs: mx.array, load: mx.array) -> mx.array:
    """Switch load-balancing loss N * sum_i f_i * P_i.

    ``load`` f (E,) is the fraction of assignments each expert received (counts, no gradient);
    ``probs`` (T, E) the router probabilities, whose mean P_i carries the gradient. It equals 1
    when routing is uniform and grows as probability mass piles onto the busiest experts.
    """
    n_experts = probs.shape[-1]
    return n_experts * (mx.stop_gradient(load) * probs.mean(axis=0)).sum()


def z_loss(logits: mx.array) -> mx.array:
    """Router z-loss (ST-MoE): mean over tokens of logsumexp(logits)^2, keeps logits small."""
    return mx.square(mx.logsumexp(logits, axis=-1)).mean()


def entropy(p: mx.array) -> mx.array:
    """-sum p log p in nats, with 0 log 0 = 0 (log E for a uniform load)."""
    return -(p * mx.log(mx.where(p > 0, p, mx.ones_like(p)))).sum()
