"""scratchlab-interp's plugin: its tasks and SAEs, and the plots it adds to results.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchlab.core import Component, hookimpl, lazy
from scratchlab.interp.induction import InductionConfig
from scratchlab.interp.sae import ReLUSAEConfig, SAETaskConfig, TopKSAEConfig
from scratchlab.interp.superposition import SuperpositionConfig

I = "scratchlab.interp"


def _twins(kind: str, name: str, target: str, config: type, summary: str) -> list[Component]:
    """The torch and MLX components of one part (``target`` is 'module:attr' below each)."""
    return [Component(kind, name, lazy(f"{I}.{b}.{target}"), config, backend=b, summary=summary)
            for b in ("torch", "mlx")]


@hookimpl
def scratchlab_components() -> list[Component]:
    return [
        *_twins("sae", "relu", "sae:relu_sae", ReLUSAEConfig,
                "ReLU SAE, L1 penalty weighted by decoder norms"),
        *_twins("sae", "topk", "sae:topk_sae", TopKSAEConfig,
                "TopK SAE with the AuxK loss and a unit-norm decoder"),
        *_twins("task", "induction", "induction:run", InductionConfig,
                "2-layer attention-only model on repeated random tokens"),
        *_twins("task", "sae", "sae:run", SAETaskConfig,
                "train an SAE on toy activations or an LM's residual stream"),
        *_twins("task", "superposition", "superposition:run", SuperpositionConfig,
                "toy models of superposition, many sparsities at once"),
    ]


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    from scratchlab.interp import report

    if task == "superposition":
        return report.superposition_report(results, out_dir)
    if task == "induction":
        return report.induction_report(results, out_dir)
    if task == "sae":
        return report.sae_report(results, out_dir)
    return None
