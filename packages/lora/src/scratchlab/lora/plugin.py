"""scratchlab-lora's plugin: the components it registers, and its section of lm sweep reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@hookimpl
def scratchlab_commands(subparsers: Any) -> None:
    from scratchlab.lora.cli import add_lora_parser

    add_lora_parser(subparsers)


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    from scratchlab.lora.report import lora_report

    return lora_report(task, results, out_dir)
