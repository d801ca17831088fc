"""scratchlab-tokenizer's plugin: the ``bpe`` tokenizer and task, the CLI, the task's plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchlab.core import Component, hookimpl
from scratchlab.core.registry import lazy
from scratchlab.tokenizer.component import BPEConfig
from scratchlab.tokenizer.task import BPETaskConfig


@hookimpl
def scratchlab_components() -> list[Component]:
    summary = "train byte-level BPE; report speed, bytes/token, vocabulary use"
    return [
        Component("tokenizer", "bpe", lazy("scratchlab.tokenizer.component:bpe_tokenizer"),
                  BPEConfig, summary="byte-level BPE trained on the corpus (cached) or loaded"),
        # framework-free: the same function under both backends (tasks are looked up per one)
        Component("task", "bpe", lazy("scratchlab.tokenizer.task:run"), BPETaskConfig,
                  backend="torch", summary=summary),
        Component("task", "bpe", lazy("scratchlab.tokenizer.task:run"), BPETaskConfig,
                  backend="mlx", summary=summary),
    ]


@hookimpl
def scratchlab_commands(subparsers: Any) -> None:
    from scratchlab.tokenizer.cli import add_commands

    add_commands(subparsers)


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    if task != "bpe":
        return None
    from scratchlab.tokenizer.report import vocab_plot

    return vocab_plot(results, out_dir)
