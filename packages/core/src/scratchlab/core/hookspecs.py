"""The hooks a scratchlab plugin can implement.

A plugin is a module (or object) registered under the ``scratchlab`` entry-point group, one entry
point per distribution, named after it. Built-in packages use exactly these hooks too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from scratchlab.core.registry import Component
    from scratchlab.core.results import SweepResults

hookspec = pluggy.HookspecMarker("scratchlab")
hookimpl = pluggy.HookimplMarker("scratchlab")


@hookspec
def scratchlab_components() -> list[Component]:  # type: ignore[empty-body]
    """Return the components this plugin provides (models, optimizers, tasks, ...)."""


@hookspec
def scratchlab_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add subcommands to the ``scratchlab`` command line (e.g. ``scratchlab tokenizer``)."""


@hookspec
def scratchlab_report(task: str, results: SweepResults, out_dir: Path) -> str | None:  # type: ignore[empty-body]
    """After a sweep: draw task-specific plots into ``out_dir`` and return Markdown to append
    to ``results.md`` (or None). Called for every plugin; each checks ``task`` itself."""
