"""Optimizer state in checkpoints: resuming at step k gives exactly the weights of a run that
never stopped (core's training.save_state / restore_state, both backends, Muon + AdamW + cosine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scratchlab.core.context import RunContext
from scratchlab.core.testing import BACKENDS
from scratchlab.core.training import restore_state, save_state
from scratchlab.optim.config import optimizer_config
from scratchlab.optim.schedules import CosineConfig, cosine

SPEC = {"name": "muon", "lr": 0.02, "weight_decay": 0.01, "fallback_params": ["head.*"],
        "fallback": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1}}
TOTAL, STOP = 8, 3


def setup(backend: str):
    cfg = optimizer_config(SPEC)
    if backend == "torch":
        import torch

        from scratchlab.core.backends import torch as be
        from scratchlab.optim.torch.optimizers import build

        torch.manual_seed(0)
        model = torch.nn.Sequential()
        model.add_module("body", torch.nn.Linear(5, 16))
        model.add_module("head", torch.nn.Linear(16, 3))

        def loss_fn(m, x, y):
            return torch.nn.functional.cross_entropy(m(torch.tanh(x)), y)

        def batch(rng):
            return torch.from_numpy(rng.standard_normal((16, 5)).astype(np.float32)), \
                torch.from_numpy(rng.integers(0, 3, 16))
    else:
        import mlx.core as mx
        import mlx.nn as nn

        from scratchlab.core.backends import mlx as be
        from scratchlab.optim.mlx.optimizers import build

        mx.random.seed(0)

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body, self.head = nn.Linear(5, 16), nn.Linear(16, 3)

            def __call__(self, x):
                return self.head(self.body(x))

        model = Net()

        def loss_fn(m, x, y):
            return nn.losses.cross_entropy(m(mx.tanh(x)), y, reduction="mean")

        def batch(rng):
            return mx.array(rng.standard_normal((16, 5)).astype(np.float32)), \
                mx.array(rng.integers(0, 3, 16))
    opt = build(cfg, model)
    return be, model, opt, be.TrainStep(model, loss_fn, opt, clip_norm=1.0), batch


def train(backend: str, run_dir: Path, stop_at: int) -> dict[str, np.ndarray]:
    """Train to ``stop_at`` (resuming from run_dir's checkpoint if any), checkpoint, return weights."""
    be, model, opt, step_fn, batch = setup(backend)
    ctx = RunContext("r", "v", 0, backend, None, run_dir)
    rng = np.random.default_rng(0)
    schedule = cosine(CosineConfig(warmup=2, min_lr_ratio=0.1), TOTAL)
    start, _ = restore_state(ctx, be, model, opt, rng)
    for step in range(start, stop_at):
        be.set_lr(opt, schedule(step))
        step_fn(*batch(rng))
    save_state(ctx, be, model, opt, stop_at, rng)
    return be.state_dict(model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_at_k_equals_uninterrupted(backend: str, tmp_path: Path) -> None:
    straight = train(backend, tmp_path / "straight", TOTAL)
    first = train(backend, tmp_path / "resumed", STOP)
    resumed = train(backend, tmp_path / "resumed", TOTAL)
    for name, a in straight.items():
        assert np.array_equal(a, resumed[name]), name
        assert not np.array_equal(a, first[name]), name  # the second leg did train
