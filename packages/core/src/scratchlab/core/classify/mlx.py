"""The classify task in MLX. Mirrors classify/torch.py line for line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from scratchlab.core.backends import mlx as backend
from scratchlab.core.classify import ClassifyConfig, MLPConfig, make_data
from scratchlab.core.context import RunContext
from scratchlab.core.training import restore_state, save_state, should

ACTIVATIONS: dict[str, Callable[..., Any]] = {"relu": nn.relu, "gelu": nn.gelu, "tanh": mx.tanh}


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig, d_in: int, d_out: int) -> None:
        super().__init__()
        dims = [d_in] + [cfg.hidden] * cfg.depth + [d_out]
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.act = ACTIVATIONS[cfg.activation]

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


def loss_fn(model: MLP, x: mx.array, y: mx.array) -> mx.array:
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model: MLP, x: mx.array, y: mx.array) -> tuple[float, float]:
    logits = model(x)
    accuracy = (logits.argmax(-1) == y).astype(mx.float32).mean()
    return float(loss_fn(model, x, y).item()), float(accuracy.item())


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: ClassifyConfig = ctx.config
    x_tr, y_tr, x_va, y_va = (mx.array(a) for a in make_data(cfg.data))
    model = MLP(cfg.model, 2, cfg.data.n_classes)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=cfg.optimizer.lr, betas=list(cfg.optimizer.betas),
                      weight_decay=cfg.optimizer.weight_decay, bias_correction=True)
    opt.init(model.trainable_parameters())
    step_fn = backend.TrainStep(model, loss_fn, opt, cfg.train.clip_norm)
    rng = np.random.default_rng(ctx.seed)
    start, _ = restore_state(ctx, backend, model, opt, rng)
    for step in range(start + 1, cfg.train.steps + 1):
        idx = mx.array(rng.integers(0, x_tr.shape[0], cfg.train.batch_size))
        loss, _ = step_fn(x_tr[idx], y_tr[idx])
        if should(cfg.train.eval_every, step, cfg.train.steps):
            val_loss, val_acc = evaluate(model, x_va, y_va)
            ctx.log_metrics(step, train_loss=float(loss.item()), val_loss=val_loss, val_accuracy=val_acc)
        if should(cfg.train.checkpoint_every, step, cfg.train.steps):
            save_state(ctx, backend, model, opt, step, rng)
        ctx.progress(step, cfg.train.steps, loss=float(loss.item()))
    val_loss, val_acc = evaluate(model, x_va, y_va)
    return {"val_loss": val_loss, "val_accuracy": val_acc, "params": backend.count_params(model)}
