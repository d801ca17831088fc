"""scratchlab-lora's plugin: the components it registers."""

from __future__ import annotations

from scratchlab.core import Component, hookimpl, lazy
from scratchlab.lora.config import LoRAConfig

SUMMARY = "LoRA: frozen base + trainable low-rank update on the targeted linear layers"


@hookimpl
def scratchlab_components() -> list[Component]:
    return [
        Component("adapter", "lora", lazy("scratchlab.lora.torch.adapter:apply_lora"), LoRAConfig,
                  backend="torch", summary=SUMMARY),
        Component("adapter", "lora", lazy("scratchlab.lora.mlx.adapter:apply_lora"), LoRAConfig,
                  backend="mlx", summary=SUMMARY),
    ]
