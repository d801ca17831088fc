"""The ``scratchlab_report`` hook: expert load per layer over training, for lm sweeps with MoE."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def expert_load_report(task: str, results: Any, out_dir: Path) -> str | None:
    return None
