"""Policy-gradient, PPO, DPO and GRPO objectives in MLX. Mirrors torch/losses.py.

Each is the formula of docs/rl.md written once; the algorithms only feed them arrays.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from scratchlab.rl.config import PPOConfig


def log_prob(logits: mx.array, actions: mx.array) -> mx.array:
    """log pi(a | s) of the taken actions."""
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, actions[..., None], axis=-1).squeeze(-1)


def entropy(logits: mx.array) -> mx.array:
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -(mx.exp(logp) * logp).sum(-1)


def policy_gradient_loss(logits: mx.array, actions: mx.array, advantages: mx.array,
                         mask: mx.array, episodes: int) -> mx.array:
    """-(1/episodes) sum_t log pi(a_t | s_t) A_t: its gradient is the policy-gradient estimate."""
    return -(log_prob(logits, actions) * advantages * mask).sum() / episodes


def value_loss(values: mx.array, targets: mx.array, mask: mx.array) -> mx.array:
    return 0.5 * ((values - targets) ** 2 * mask).sum() / mask.sum()


def normalize(x: mx.array) -> mx.array:
    """(x - mean) / (std + 1e-8), with the unbiased std (as CleanRL)."""
    std = mx.std(x, ddof=1 if x.size > 1 else 0)
    return (x - x.mean()) / (std + 1e-8)


def ppo_loss(logits: mx.array, values: mx.array, actions: mx.array,
             old_logprobs: mx.array, advantages: mx.array, returns: mx.array,
             old_values: mx.array, cfg: PPOConfig) -> tuple[mx.array, dict[str, mx.array]]:
    """The clipped surrogate, the (clipped) value loss and the entropy bonus, as CleanRL."""
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)  # for the ratio and entropy
    logratio = mx.take_along_axis(logp, actions[..., None], axis=-1).squeeze(-1) - old_logprobs
    ratio = mx.exp(logratio)
    approx_kl = mx.stop_gradient(((ratio - 1) - logratio).mean())  # k3 estimator of KL(old||new)
    clipfrac = mx.stop_gradient((mx.abs(ratio - 1.0) > cfg.clip_coef).astype(mx.float32).mean())
    adv = normalize(advantages) if cfg.norm_adv else advantages
    pg_loss = mx.maximum(-adv * ratio, -adv * mx.clip(ratio, 1 - cfg.clip_coef,
                                                      1 + cfg.clip_coef)).mean()
    if cfg.clip_vloss:
        v_clipped = old_values + mx.clip(values - old_values, -cfg.clip_coef, cfg.clip_coef)
        v_loss = 0.5 * mx.maximum((values - returns) ** 2, (v_clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((values - returns) ** 2).mean()
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
    return loss, {"pg_loss": mx.stop_gradient(pg_loss), "v_loss": mx.stop_gradient(v_loss),
                  "entropy": mx.stop_gradient(ent), "approx_kl": approx_kl, "clipfrac": clipfrac}


def sequence_logprob(logits: mx.array, tokens: mx.array, mask: mx.array) -> mx.array:
    """log pi(y | x) = sum over the response tokens (mask = 1) of log pi(y_t | x, y_<t)."""
    return (log_prob(logits, tokens) * mask).sum(-1)


def dpo_loss(policy_chosen: mx.array, policy_rejected: mx.array,
             ref_chosen: mx.array, ref_rejected: mx.array,
             beta: float) -> mx.array:
    """-log sigmoid(beta [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))])."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -nn.log_sigmoid(beta * margin).mean()


def grpo_advantages(rewards: mx.array, eps: float = 1e-6) -> mx.array:
    """(r - mean) / (std + eps) within each group (the last axis): the critic-free baseline."""
    first = rewards[..., :1]  # shift first: equal rewards give exactly 0, not rounding noise
    mean = first + (rewards - first).mean(-1, keepdims=True)
    std = mx.sqrt(((rewards - mean) ** 2).mean(-1, keepdims=True))
    return (rewards - mean) / (std + eps)


def grpo_loss(logprobs: mx.array, old_logprobs: mx.array, ref_logprobs: mx.array,
              advantages: mx.array, mask: mx.array, clip_coef: float,
              beta: float) -> mx.array:
    """Per-token clipped surrogate with the group advantage, plus beta * KL(pi || ref) (k3)."""
    ratio = mx.exp(logprobs - old_logprobs)
    adv = advantages[..., None]
    surrogate = mx.minimum(ratio * adv, mx.clip(ratio, 1 - clip_coef, 1 + clip_coef) * adv)
    kl = mx.exp(ref_logprobs - logprobs) - (ref_logprobs - logprobs) - 1
    per_token = -(surrogate - beta * kl)
    return ((per_token * mask).sum(-1) / mask.sum(-1)).mean()
