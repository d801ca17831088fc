"""Toy models of superposition in PyTorch. Mirrors mlx/superposition.py name for name."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.core.backends import torch as backend
from scratchlab.core.context import RunContext
from scratchlab.core.training import restore_state, save_state, should
from scratchlab.interp import superposition as sp


class ToyModel(nn.Module):
    """x' = ReLU(W^T W x + b) for every instance at once: W is (instances, features, hidden),
    so row W[k, i] is the direction instance k gives feature i."""

    def __init__(self, n_instances: int, n_features: int, n_hidden: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.zeros(n_instances, n_features, n_hidden))
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (instances, batch, features) -> reconstruction of the same shape."""
        h = x @ self.W  # (instances, batch, hidden): one matmul per instance
        return F.relu(h @ self.W.transpose(1, 2) + self.b_final[:, None, :])


def batch(rng: np.random.Generator, batch_size: int, probs: np.ndarray,
          n_features: int) -> torch.Tensor:
    """A batch of sparse features (instances, batch, features), drawn in NumPy
    (sp.generate_batch) so that both backends read the same data for a seed."""
    return torch.from_numpy(sp.generate_batch(rng, batch_size, probs, n_features))


def instance_losses(model: ToyModel, x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Importance-weighted squared error, averaged over batch and features: (instances,)."""
    return (importance * (x - model(x)) ** 2).mean((1, 2))


def loss_fn(model: ToyModel, x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Summed over instances, so each instance's gradient is its own loss's gradient."""
    return instance_losses(model, x, importance).sum()


@torch.no_grad()
def evaluate(model: ToyModel, rng: np.random.Generator, probs: np.ndarray,
             importance: torch.Tensor, n_features: int, batches: int = 8,
             batch_size: int = 1024) -> np.ndarray:
    losses = [instance_losses(model, batch(rng, batch_size, probs, n_features), importance)
              for _ in range(batches)]
    return torch.stack(losses).mean(0).numpy()


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: sp.SuperpositionConfig = ctx.config
    probs_np, imp_np = sp.feature_probs(cfg), sp.importance(cfg)
    imp = torch.from_numpy(imp_np)
    model = ToyModel(len(probs_np), cfg.n_features, cfg.n_hidden)
    backend.load_state_dict(model, sp.init_weights(cfg, len(probs_np), ctx.seed))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step_fn = backend.TrainStep(model, loss_fn, opt)
    rng = np.random.default_rng(ctx.seed)
    start, _ = restore_state(ctx, backend, model, opt, rng)
    for step in range(start + 1, cfg.steps + 1):
        loss, _ = step_fn(batch(rng, cfg.batch_size, probs_np, cfg.n_features), imp)
        if should(cfg.eval_every, step, cfg.steps):
            ctx.log_metrics(step, train_loss=loss.item())
        if should(cfg.checkpoint_every, step, cfg.steps):
            save_state(ctx, backend, model, opt, step, rng)
        ctx.progress(step, cfg.steps, loss=loss.item())
    losses = evaluate(model, np.random.default_rng(ctx.seed + 1), probs_np, imp, cfg.n_features)
    W = backend.to_numpy(model.W)
    np.savez(ctx.path("superposition.npz"), W=W, b_final=backend.to_numpy(model.b_final),
             probs=probs_np, importance=imp_np, losses=losses)
    return sp.metrics(W, probs_np, losses)
