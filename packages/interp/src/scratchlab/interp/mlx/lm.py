"""A short language-model training loop and loss helpers, for tasks that need a small trained
model to look inside (sae on an LM). Mirrors torch/lm.py name for name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from scratchlab.interp.mlx.hooks import FwdHook, run_with_hooks


def lm_loss(model: Any, x: mx.array, y: mx.array) -> mx.array:
    logits = model(x)
    return nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   reduction="mean")


def train_lm(model: Any, next_batch: Callable[[], tuple[np.ndarray, np.ndarray]], steps: int,
             lr: float, log: Callable[[int, float], None] | None = None) -> float:
    """``steps`` of AdamW (weight decay 0.1, clip 1.0) on batches from ``next_batch``;
    returns the last training loss."""
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.1, bias_correction=True)
    loss_and_grad = nn.value_and_grad(model, lm_loss)
    loss = mx.array(float("nan"))
    for step in range(1, steps + 1):
        x, y = (mx.array(a) for a in next_batch())
        loss, grads = loss_and_grad(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        if log is not None:
            log(step, loss.item())
    return float(loss.item())


def mean_loss(model: Any, batches: Iterable[tuple[np.ndarray, np.ndarray]],
              fwd_hooks: Sequence[FwdHook] = ()) -> float:
    """Mean next-token cross-entropy over ``batches`` with ``fwd_hooks`` attached."""
    total, n = 0.0, 0
    for x, y in batches:
        logits = run_with_hooks(model, mx.array(x), fwd_hooks)
        total += nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                         mx.array(y).reshape(-1), reduction="sum").item()
        n += y.size
    return total / max(n, 1)
