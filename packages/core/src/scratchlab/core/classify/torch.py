"""The classify task in PyTorch. Mirrors classify/mlx.py line for line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.core.backends import torch as backend
from scratchlab.core.classify import ClassifyConfig, MLPConfig, make_data
from scratchlab.core.context import RunContext
from scratchlab.core.training import restore_state, save_state, should

ACTIVATIONS: dict[str, Callable[..., Any]] = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig, d_in: int, d_out: int) -> None:
        super().__init__()
        dims = [d_in] + [cfg.hidden] * cfg.depth + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


def loss_fn(model: MLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


@torch.no_grad()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(-1) == y).float().mean().item()


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: ClassifyConfig = ctx.config
    x_tr, y_tr, x_va, y_va = (torch.from_numpy(a) for a in make_data(cfg.data))
    model = MLP(cfg.model, 2, cfg.data.n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optimizer.lr, betas=cfg.optimizer.betas,
                            weight_decay=cfg.optimizer.weight_decay)
    step_fn = backend.TrainStep(model, loss_fn, opt, cfg.train.clip_norm)
    rng = np.random.default_rng(ctx.seed)
    start, _ = restore_state(ctx, backend, model, opt, rng)
    for step in range(start + 1, cfg.train.steps + 1):
        idx = torch.from_numpy(rng.integers(0, len(x_tr), cfg.train.batch_size))
        loss, _ = step_fn(x_tr[idx], y_tr[idx])
        if should(cfg.train.eval_every, step, cfg.train.steps):
            val_loss, val_acc = evaluate(model, x_va, y_va)
            ctx.log_metrics(step, train_loss=loss.item(), val_loss=val_loss, val_accuracy=val_acc)
        if should(cfg.train.checkpoint_every, step, cfg.train.steps):
            save_state(ctx, backend, model, opt, step, rng)
        ctx.progress(step, cfg.train.steps, loss=loss.item())
    val_loss, val_acc = evaluate(model, x_va, y_va)
    return {"val_loss": val_loss, "val_accuracy": val_acc, "params": backend.count_params(model)}
