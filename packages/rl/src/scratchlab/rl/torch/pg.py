"""REINFORCE, its baselines, one-step actor-critic and GAE in PyTorch. Mirrors mlx/pg.py.

One policy step per batch of complete episodes. The estimator (what multiplies
grad log pi) is the only difference between the five algorithms; see advantages.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratchlab.rl.advantages import pg_targets, updated_baseline
from scratchlab.rl.config import PGConfig
from scratchlab.rl.rollout import Rollout
from scratchlab.rl.torch.agent import Agent
from scratchlab.rl.torch.losses import entropy, log_prob, policy_gradient_loss, value_loss

Tensors5 = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _tensors(batch: Rollout, adv: np.ndarray, targets: np.ndarray) -> Tensors5:
    return (torch.from_numpy(batch.obs), torch.from_numpy(batch.actions),
            torch.from_numpy(adv), torch.from_numpy(targets),
            torch.from_numpy(batch.mask.astype(np.float32)))


def pg_loss_fn(agent: Agent, obs: torch.Tensor, actions: torch.Tensor, adv: torch.Tensor,
               targets: torch.Tensor, mask: torch.Tensor, episodes: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    logits = agent.logits(obs)
    pg = policy_gradient_loss(logits, actions, adv, mask, episodes)
    v = value_loss(agent.value(obs), targets, mask)
    ent = (entropy(logits) * mask).sum() / mask.sum()
    return pg + v, {"pg_loss": pg.detach(), "v_loss": v.detach(), "entropy": ent.detach()}


class PolicyGradient:
    mode = "episodes"

    def __init__(self, cfg: PGConfig, agent: Agent, total_steps: int,
                 rng: np.random.Generator) -> None:
        self.cfg, self.agent, self.estimator = cfg, agent, cfg.estimator
        self.actor_optimizer = torch.optim.Adam(agent.actor.parameters(), lr=cfg.lr, eps=1e-5)
        self.critic_optimizer = torch.optim.Adam(agent.critic.parameters(), lr=cfg.critic_lr,
                                                 eps=1e-5)
        self.baseline, self.batches = 0.0, 0

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.logits(torch.from_numpy(obs)).numpy()

    @torch.inference_mode()
    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.value(torch.from_numpy(obs)).numpy()

    def targets(self, batch: Rollout, estimator: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        return pg_targets(estimator or self.estimator, batch, cfg.gamma, cfg.gae_lambda,
                          self.baseline, cfg.normalize_advantages)

    def update(self, batch: Rollout) -> dict[str, float]:
        """One gradient step of policy (and critic) on the batch; then refresh the baseline."""
        adv, targets = self.targets(batch)
        self.actor_optimizer.zero_grad(set_to_none=True)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss, aux = pg_loss_fn(self.agent, *_tensors(batch, adv, targets), batch.episodes)
        loss.backward()
        actor_grads = [p.grad for p in self.agent.actor.parameters()]
        grad_norm = torch.sqrt(sum(((g ** 2).sum() for g in actor_grads if g is not None),
                                   torch.tensor(0.0)))
        if self.cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.agent.parameters(), self.cfg.max_grad_norm)
        self.actor_optimizer.step()
        self.critic_optimizer.step()
        self._refresh_baseline(batch)
        return {"loss": loss.item(), "grad_norm": grad_norm.item(),
                **{k: v.item() for k, v in aux.items()}}

    def _refresh_baseline(self, batch: Rollout) -> None:
        self.baseline = updated_baseline(self.baseline, batch, self.cfg.gamma,
                                         self.cfg.baseline_decay, self.batches == 0)
        self.batches += 1

    def fit_critic(self, batch: Rollout) -> float:
        """A critic-only step (Monte Carlo targets) and a baseline refresh; the policy is kept."""
        _, targets = self.targets(batch, "value")
        obs, _, _, tgt, mask = _tensors(batch, targets, targets)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss = value_loss(self.agent.value(obs), tgt, mask)
        loss.backward()
        self.critic_optimizer.step()
        self._refresh_baseline(batch)
        return loss.item()

    def policy_gradient(self, batch: Rollout, estimator: str | None = None) -> np.ndarray:
        """The estimate of grad J: (1/episodes) sum_t A_t grad log pi(a_t | s_t), flattened."""
        adv, _ = self.targets(batch, estimator)
        return self.score_gradient(batch.obs, batch.actions, adv * batch.mask / batch.episodes)

    def score_gradient(self, obs: np.ndarray, actions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """grad of sum_i w_i log pi(a_i | s_i) over the actor's parameters (sorted by name)."""
        logp = log_prob(self.agent.logits(torch.from_numpy(obs)), torch.from_numpy(actions))
        objective = (logp * torch.from_numpy(weights.astype(np.float32))).sum()
        named = sorted(self.agent.actor.named_parameters())
        grads = torch.autograd.grad(objective, [p for _, p in named])
        return np.concatenate([g.numpy().ravel() for g in grads])

    def state(self) -> dict[str, Any]:
        return {"baseline": self.baseline}
