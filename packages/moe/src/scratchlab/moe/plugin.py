"""scratchlab-moe's plugin: the components it registers, and the expert-load report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchlab.core import Component, hookimpl, lazy
from scratchlab.moe.config import MoEConfig, SigmoidRouterConfig, SoftmaxRouterConfig

_PARTS = [
    ("ffn", "moe", "moe:build_ffn", MoEConfig,
     "mixture-of-experts feed-forward: top-k routing, capacity, balancing and z losses"),
    ("router", "softmax", "router:SoftmaxRouter", SoftmaxRouterConfig,
     "softmax top-k router (optionally noisy), renormalised weights as in Mixtral"),
    ("router", "sigmoid", "router:SigmoidRouter", SigmoidRouterConfig,
     "sigmoid top-k router (DeepSeek-V3 style)"),
]


@hookimpl
def scratchlab_components() -> list[Component]:
    return [Component(kind, name, lazy(f"scratchlab.moe.{backend}.{target}"), config,
                      backend=backend, summary=summary)
            for kind, name, target, config, summary in _PARTS for backend in ("torch", "mlx")]


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    from scratchlab.moe.report import expert_load_report

    return expert_load_report(task, results, out_dir)
