"""PPO in MLX, CleanRL style: the hyperparameters are PPOConfig, the update reads top to
bottom. Mirrors torch/ppo.py."""

from __future__ import annotations

from functools import partial
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from scratchlab.rl.advantages import gae
from scratchlab.rl.config import PPOConfig
from scratchlab.rl.mlx.agent import Agent
from scratchlab.rl.mlx.losses import ppo_loss
from scratchlab.rl.rollout import Rollout


def ppo_loss_fn(agent: Agent, obs: mx.array, actions: mx.array, logprobs: mx.array,
                advantages: mx.array, returns: mx.array, values: mx.array,
                cfg: PPOConfig) -> tuple[mx.array, dict[str, mx.array]]:
    return ppo_loss(agent.logits(obs), agent.value(obs), actions, logprobs, advantages, returns,
                    values, cfg)


class PPO:
    mode = "steps"

    def __init__(self, cfg: PPOConfig, agent: Agent, total_steps: int,
                 rng: np.random.Generator) -> None:
        self.cfg, self.agent, self.rng = cfg, agent, rng
        self.optimizer = optim.Adam(learning_rate=cfg.lr, eps=1e-5, bias_correction=True)
        self.num_updates = max(1, total_steps // cfg.batch_size)
        self.update_idx = 0
        self.loss_and_grad = nn.value_and_grad(agent, ppo_loss_fn)
        # one minibatch step (loss, gradients, clipping, Adam) traced once by mx.compile;
        # the annealed learning rate lives in optimizer.state, so it is an input too
        self.optimizer.init(agent.trainable_parameters())
        state = [agent.state, self.optimizer.state]
        self.train_step = partial(mx.compile, inputs=state, outputs=state)(self._train_step)
        # acting, a few tiny ops per env step, is traced once as well (the weights are inputs)
        self.policy = partial(mx.compile, inputs=agent.state)(agent.logits)

    def _train_step(self, *minibatch: mx.array) -> tuple[mx.array, dict[str, mx.array], mx.array]:
        (loss, stats), grads = self.loss_and_grad(self.agent, *minibatch, self.cfg)
        grads, grad_norm = optim.clip_grad_norm(grads, self.cfg.max_grad_norm)
        self.optimizer.update(self.agent, grads)
        return loss, stats, grad_norm

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.array(self.policy(mx.array(obs)))

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array(self.agent.value(mx.array(obs)))  # once per rollout: not worth a trace

    def update(self, batch: Rollout) -> dict[str, float]:
        cfg = self.cfg
        self.update_idx += 1
        # learning-rate annealing: linearly to 0 over the run
        if cfg.anneal_lr:
            frac = 1.0 - (self.update_idx - 1.0) / self.num_updates
            self.optimizer.learning_rate = frac * cfg.lr
        # generalised advantage estimation over the whole rollout
        rewards = batch.bootstrapped_rewards(cfg.gamma) if cfg.bootstrap_truncated else batch.rewards
        advantages, returns = gae(rewards, batch.values, batch.dones, cfg.gamma, cfg.gae_lambda,
                                  batch.last_value)
        # flatten the batch
        b_obs = mx.array(batch.obs.reshape(cfg.batch_size, -1))
        b_actions = mx.array(batch.actions.reshape(-1))
        b_logprobs = mx.array(batch.logprobs.reshape(-1).astype(np.float32))
        b_advantages = mx.array(advantages.reshape(-1).astype(np.float32))
        b_returns = mx.array(returns.reshape(-1).astype(np.float32))
        b_values = mx.array(batch.values.reshape(-1).astype(np.float32))
        # optimise the policy and value network for a few epochs of minibatches
        grad_norms: list[float] = []
        stats: dict[str, Any] = {}
        for _epoch in range(cfg.update_epochs):
            order = self.rng.permutation(cfg.batch_size)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = mx.array(order[start:start + cfg.minibatch_size])
                loss, stats, grad_norm = self.train_step(
                    b_obs[mb], b_actions[mb], b_logprobs[mb], b_advantages[mb], b_returns[mb],
                    b_values[mb])
                mx.eval(self.agent.parameters(), self.optimizer.state, loss, stats, grad_norm)
                grad_norms.append(grad_norm.item())
            if cfg.target_kl is not None and stats["approx_kl"].item() > cfg.target_kl:
                break
        y_pred, y_true = batch.values.reshape(-1), returns.reshape(-1)
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        return {"loss": loss.item(), **{k: v.item() for k, v in stats.items()},
                "grad_norm": float(np.mean(grad_norms)), "grad_norm_max": float(np.max(grad_norms)),
                "explained_variance": float(explained_var),
                "lr": float(self.optimizer.learning_rate)}

    def state(self) -> dict[str, Any]:
        return {"update_idx": self.update_idx}
