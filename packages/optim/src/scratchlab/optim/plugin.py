"""scratchlab-optim's plugin: the optimizers (torch and MLX) and schedules it registers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratchlab.core import Component, hookimpl
from scratchlab.core.registry import lazy
from scratchlab.optim import schedules
from scratchlab.optim.config import AdamConfig, AdamWConfig, LionConfig, MuonConfig, SGDConfig

OPTIMIZERS = [
    ("sgd", SGDConfig, "stochastic gradient descent with (Nesterov) momentum"),
    ("adam", AdamConfig, "Adam with bias correction (L2 weight decay)"),
    ("adamw", AdamWConfig, "Adam with decoupled weight decay"),
    ("lion", LionConfig, "sign of interpolated momentum (Chen et al. 2023)"),
    ("muon", MuonConfig, "orthogonalised momentum for matrices, with a fallback for the rest"),
]

SCHEDULES: list[tuple[str, Callable[..., Any], type, str]] = [
    ("constant", schedules.constant, schedules.ConstantConfig, "the base rate (optional warmup)"),
    ("warmup", schedules.warmup, schedules.WarmupConfig, "linear warmup, then constant"),
    ("cosine", schedules.cosine, schedules.CosineConfig, "warmup, then cosine decay to min_lr_ratio"),
    ("wsd", schedules.wsd, schedules.WSDConfig, "warmup-stable-decay"),
    ("inverse_sqrt", schedules.inverse_sqrt, schedules.InverseSqrtConfig,
     "warmup, then 1/sqrt(step)"),
]


@hookimpl
def scratchlab_components() -> list[Component]:
    out: list[Component] = []
    for name, cfg, summary in OPTIMIZERS:
        for backend in ("torch", "mlx"):
            out.append(Component("optimizer", name,
                                 lazy(f"scratchlab.optim.{backend}.optimizers:build"), cfg,
                                 backend=backend, summary=summary))
    for name, factory, cfg, summary in SCHEDULES:
        out.append(Component("schedule", name, factory, cfg, summary=summary))
    return out


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    from scratchlab.optim.report import optimizer_report

    return optimizer_report(task, results, out_dir)
