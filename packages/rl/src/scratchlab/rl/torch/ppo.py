"""PPO in PyTorch, CleanRL style: the hyperparameters are PPOConfig, the update reads top to
bottom. Mirrors mlx/ppo.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratchlab.rl.advantages import gae
from scratchlab.rl.config import PPOConfig
from scratchlab.rl.rollout import Rollout
from scratchlab.rl.torch.agent import Agent
from scratchlab.rl.torch.losses import ppo_loss


def ppo_loss_fn(agent: Agent, obs: torch.Tensor, actions: torch.Tensor, logprobs: torch.Tensor,
                advantages: torch.Tensor, returns: torch.Tensor, values: torch.Tensor,
                cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    return ppo_loss(agent.logits(obs), agent.value(obs), actions, logprobs, advantages, returns,
                    values, cfg)


class PPO:
    mode = "steps"

    def __init__(self, cfg: PPOConfig, agent: Agent, total_steps: int,
                 rng: np.random.Generator) -> None:
        self.cfg, self.agent, self.rng = cfg, agent, rng
        # fused: one kernel updates every parameter (the per-tensor loop costs more here)
        self.optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.lr, eps=1e-5, fused=True)
        self.num_updates = max(1, total_steps // cfg.batch_size)
        self.update_idx = 0

    @torch.inference_mode()  # no autograd bookkeeping at all while collecting
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.logits(torch.from_numpy(obs)).numpy()

    @torch.inference_mode()
    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.value(torch.from_numpy(obs)).numpy()

    def update(self, batch: Rollout) -> dict[str, float]:
        cfg = self.cfg
        self.update_idx += 1
        # learning-rate annealing: linearly to 0 over the run
        if cfg.anneal_lr:
            frac = 1.0 - (self.update_idx - 1.0) / self.num_updates
            self.optimizer.param_groups[0]["lr"] = frac * cfg.lr
        # generalised advantage estimation over the whole rollout
        rewards = batch.bootstrapped_rewards(cfg.gamma) if cfg.bootstrap_truncated else batch.rewards
        advantages, returns = gae(rewards, batch.values, batch.dones, cfg.gamma, cfg.gae_lambda,
                                  batch.last_value)
        # flatten the batch
        b_obs = torch.from_numpy(batch.obs.reshape(cfg.batch_size, -1))
        b_actions = torch.from_numpy(batch.actions.reshape(-1))
        b_logprobs = torch.from_numpy(batch.logprobs.reshape(-1).astype(np.float32))
        b_advantages = torch.from_numpy(advantages.reshape(-1).astype(np.float32))
        b_returns = torch.from_numpy(returns.reshape(-1).astype(np.float32))
        b_values = torch.from_numpy(batch.values.reshape(-1).astype(np.float32))
        # optimise the policy and value network for a few epochs of minibatches
        grad_norms: list[torch.Tensor] = []  # read once at the end, not per minibatch
        stats: dict[str, Any] = {}
        for _epoch in range(cfg.update_epochs):
            order = self.rng.permutation(cfg.batch_size)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = torch.from_numpy(order[start:start + cfg.minibatch_size])
                loss, stats = ppo_loss_fn(self.agent, b_obs[mb], b_actions[mb], b_logprobs[mb],
                                          b_advantages[mb], b_returns[mb], b_values[mb], cfg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norms.append(torch.nn.utils.clip_grad_norm_(
                    self.agent.parameters(), cfg.max_grad_norm, foreach=True))
                self.optimizer.step()
            if cfg.target_kl is not None and stats["approx_kl"].item() > cfg.target_kl:
                break
        y_pred, y_true = batch.values.reshape(-1), returns.reshape(-1)
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        norms = torch.stack(grad_norms)
        return {"loss": loss.item(), **{k: v.item() for k, v in stats.items()},
                "grad_norm": norms.mean().item(), "grad_norm_max": norms.max().item(),
                "explained_variance": float(explained_var),
                "lr": self.optimizer.param_groups[0]["lr"]}

    def state(self) -> dict[str, Any]:
        return {"update_idx": self.update_idx}
