"""Policy-gradient, PPO, DPO and GRPO objectives in PyTorch. Mirrors mlx/losses.py.

Each is the formula of docs/rl.md written once; the algorithms only feed them tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scratchlab.rl.config import PPOConfig


def log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a | s) of the taken actions."""
    return torch.log_softmax(logits, -1).gather(-1, actions[..., None]).squeeze(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def policy_gradient_loss(logits: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor,
                         mask: torch.Tensor, episodes: int) -> torch.Tensor:
    """-(1/episodes) sum_t log pi(a_t | s_t) A_t: its gradient is the policy-gradient estimate."""
    return -(log_prob(logits, actions) * advantages * mask).sum() / episodes


def value_loss(values: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((values - targets) ** 2 * mask).sum() / mask.sum()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / (std + 1e-8), with the unbiased std (as CleanRL)."""
    std, mean = torch.std_mean(x, correction=1 if x.numel() > 1 else 0)
    return (x - mean) / (std + 1e-8)


def ppo_loss(logits: torch.Tensor, values: torch.Tensor, actions: torch.Tensor,
             old_logprobs: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
             old_values: torch.Tensor, cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate, the (clipped) value loss and the entropy bonus, as CleanRL."""
    logp = torch.log_softmax(logits, -1)  # once, for the ratio and the entropy
    logratio = logp.gather(-1, actions[..., None]).squeeze(-1) - old_logprobs
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()  # the k3 estimator of KL(old || new)
        clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()
    adv = normalize(advantages) if cfg.norm_adv else advantages
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - cfg.clip_coef,
                                                         1 + cfg.clip_coef)).mean()
    if cfg.clip_vloss:
        v_clipped = old_values + torch.clamp(values - old_values, -cfg.clip_coef, cfg.clip_coef)
        v_loss = 0.5 * torch.max((values - returns) ** 2, (v_clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((values - returns) ** 2).mean()
    ent = -(logp.exp() * logp).sum(-1).mean()
    loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
    return loss, {"pg_loss": pg_loss.detach(), "v_loss": v_loss.detach(),
                  "entropy": ent.detach(), "approx_kl": approx_kl, "clipfrac": clipfrac}


def sequence_logprob(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi(y | x) = sum over the response tokens (mask = 1) of log pi(y_t | x, y_<t)."""
    return (log_prob(logits, tokens) * mask).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float) -> torch.Tensor:
    """-log sigmoid(beta [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))])."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def grpo_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(r - mean) / (std + eps) within each group (the last axis): the critic-free baseline."""
    first = rewards[..., :1]  # shift first: equal rewards give exactly 0, not rounding noise
    mean = first + (rewards - first).mean(-1, keepdim=True)
    std = ((rewards - mean) ** 2).mean(-1, keepdim=True).sqrt()
    return (rewards - mean) / (std + eps)


def grpo_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
              advantages: torch.Tensor, mask: torch.Tensor, clip_coef: float,
              beta: float) -> torch.Tensor:
    """Per-token clipped surrogate with the group advantage, plus beta * KL(pi || ref) (k3)."""
    ratio = (logprobs - old_logprobs).exp()
    adv = advantages[..., None]
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv)
    kl = (ref_logprobs - logprobs).exp() - (ref_logprobs - logprobs) - 1
    per_token = -(surrogate - beta * kl)
    return ((per_token * mask).sum(-1) / mask.sum(-1)).mean()
