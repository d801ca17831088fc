"""A short language-model training loop and loss helpers, for tasks that need a small trained
model to look inside (sae on an LM). Mirrors mlx/lm.py name for name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scratchlab.interp.torch.hooks import FwdHook, run_with_hooks


def lm_loss(model: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def train_lm(model: Any, next_batch: Callable[[], tuple[np.ndarray, np.ndarray]], steps: int,
             lr: float, log: Callable[[int, float], None] | None = None) -> float:
    """``steps`` of AdamW (weight decay 0.1, clip 1.0) on batches from ``next_batch``;
    returns the last training loss."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    loss = torch.tensor(float("nan"))
    for step in range(1, steps + 1):
        x, y = (torch.from_numpy(a) for a in next_batch())
        opt.zero_grad(set_to_none=True)
        loss = lm_loss(model, x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if log is not None:
            log(step, loss.item())
    return float(loss.item())


@torch.no_grad()
def mean_loss(model: Any, batches: Iterable[tuple[np.ndarray, np.ndarray]],
              fwd_hooks: Sequence[FwdHook] = ()) -> float:
    """Mean next-token cross-entropy over ``batches`` with ``fwd_hooks`` attached."""
    total, n = 0.0, 0
    for x, y in batches:
        logits = run_with_hooks(model, torch.from_numpy(x), fwd_hooks)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                 torch.from_numpy(y).reshape(-1), reduction="sum").item()
        n += y.size
    return total / max(n, 1)
