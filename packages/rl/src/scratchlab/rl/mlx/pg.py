"""REINFORCE, its baselines, one-step actor-critic and GAE in MLX. Mirrors torch/pg.py.

One policy step per batch of complete episodes. The estimator (what multiplies
grad log pi) is the only difference between the five algorithms; see advantages.py.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from scratchlab.rl.advantages import pg_targets, updated_baseline
from scratchlab.rl.config import PGConfig
from scratchlab.rl.mlx.agent import Agent
from scratchlab.rl.mlx.losses import entropy, log_prob, policy_gradient_loss, value_loss
from scratchlab.rl.rollout import Rollout


def _tensors(batch: Rollout, adv: np.ndarray, targets: np.ndarray) -> tuple[mx.array, ...]:
    return (mx.array(batch.obs), mx.array(batch.actions),
            mx.array(adv), mx.array(targets),
            mx.array(batch.mask.astype(np.float32)))


def pg_loss_fn(agent: Agent, obs: mx.array, actions: mx.array, adv: mx.array,
               targets: mx.array, mask: mx.array, episodes: int) -> tuple[mx.array, dict[str, mx.array]]:
    logits = agent.logits(obs)
    pg = policy_gradient_loss(logits, actions, adv, mask, episodes)
    v = value_loss(agent.value(obs), targets, mask)
    ent = (entropy(logits) * mask).sum() / mask.sum()
    return pg + v, {"pg_loss": mx.stop_gradient(pg), "v_loss": mx.stop_gradient(v),
                              "entropy": mx.stop_gradient(ent)}


class PolicyGradient:
    mode = "episodes"

    def __init__(self, cfg: PGConfig, agent: Agent, total_steps: int,
                 rng: np.random.Generator) -> None:
        self.cfg, self.agent, self.estimator = cfg, agent, cfg.estimator
        self.actor_optimizer = optim.Adam(learning_rate=cfg.lr, eps=1e-5, bias_correction=True)
        self.critic_optimizer = optim.Adam(learning_rate=cfg.critic_lr, eps=1e-5,
                                           bias_correction=True)
        self.baseline, self.batches = 0.0, 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.array(self.agent.logits(mx.array(obs)))

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array(self.agent.value(mx.array(obs)))

    def targets(self, batch: Rollout, estimator: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        return pg_targets(estimator or self.estimator, batch, cfg.gamma, cfg.gae_lambda,
                          self.baseline, cfg.normalize_advantages)

    def update(self, batch: Rollout) -> dict[str, float]:
        """One gradient step of policy (and critic) on the batch; then refresh the baseline."""
        adv, targets = self.targets(batch)
        (loss, aux), grads = nn.value_and_grad(self.agent, pg_loss_fn)(
            self.agent, *_tensors(batch, adv, targets), batch.episodes)
        actor_grads = [g for _, g in tree_flatten(grads["actor"])]
        grad_norm = mx.sqrt(sum((g ** 2).sum() for g in actor_grads))
        if self.cfg.max_grad_norm:
            grads, _ = optim.clip_grad_norm(grads, self.cfg.max_grad_norm)
        self.actor_optimizer.update(self.agent.actor, grads["actor"])
        self.critic_optimizer.update(self.agent.critic, grads["critic"])
        mx.eval(self.agent.parameters(), self.actor_optimizer.state, self.critic_optimizer.state)
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
        critic = self.agent.critic
        loss, grads = nn.value_and_grad(critic, lambda c: value_loss(c(obs).squeeze(-1), tgt,
                                                                     mask))(critic)
        self.critic_optimizer.update(critic, grads)
        mx.eval(critic.parameters(), self.critic_optimizer.state)
        self._refresh_baseline(batch)
        return loss.item()

    def policy_gradient(self, batch: Rollout, estimator: str | None = None) -> np.ndarray:
        """The estimate of grad J: (1/episodes) sum_t A_t grad log pi(a_t | s_t), flattened."""
        adv, _ = self.targets(batch, estimator)
        return self.score_gradient(batch.obs, batch.actions, adv * batch.mask / batch.episodes)

    def score_gradient(self, obs: np.ndarray, actions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """grad of sum_i w_i log pi(a_i | s_i) over the actor's parameters (sorted by name)."""
        o, a, w = mx.array(obs), mx.array(actions), mx.array(weights.astype(np.float32))
        x = mx.ones((*o.shape[:-1], 1), dtype=o.dtype) if self.agent.constant_actor else o
        _, grads = nn.value_and_grad(self.agent.actor, lambda actor: (
            log_prob(actor(x), a) * w).sum())(self.agent.actor)
        return np.concatenate([np.array(g).ravel() for _, g in sorted(tree_flatten(grads), key=lambda kv: kv[0])])

    def state(self) -> dict[str, Any]:
        return {"baseline": self.baseline}

