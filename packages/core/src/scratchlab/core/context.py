"""What a task sees of the runner: its config, seed, backend, folder, and ways to report.

The runner owns seeds, output, resume and the table; a task only trains and evaluates. A task
logs time series with :meth:`RunContext.log_metrics`, saves and restores checkpoints with
:meth:`save_checkpoint` / :meth:`load_checkpoint` (resume is exact if it saves its RNG
states), and returns its final metrics as a dict of numbers.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core import checkpoint
from scratchlab.core.errors import Diverged

CHECKPOINT = "checkpoint.safetensors"


@dataclass
class RunContext:
    run_id: str
    variant: str
    seed: int
    backend: str
    config: Any
    dir: Path
    device: str = "auto"
    on_progress: Callable[[int, int, dict[str, float]], None] | None = None
    _log_file: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    # --- logging -----------------------------------------------------------------------------
    def log(self, message: str) -> None:
        with open(self.dir / "log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def log_metrics(self, step: int, **metrics: float) -> None:
        """Append one line to metrics.jsonl; a non-finite loss stops the run as diverged."""
        clean = {k: float(v) for k, v in metrics.items()}
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
            f.flush()
        bad = [k for k, v in clean.items() if "loss" in k and not math.isfinite(v)]
        if bad:
            raise Diverged(f"{bad[0]} became {clean[bad[0]]} at step {step}")

    def progress(self, step: int, total: int, **info: float) -> None:
        if self.on_progress is not None:
            self.on_progress(step, total, info)

    def path(self, name: str) -> Path:
        """Where to write an artifact of this run (a sample, a plot, ...)."""
        return self.dir / name

    # --- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, tensors: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Atomically replace the run's checkpoint (``state['step']`` marks where it is)."""
        checkpoint.save(self.dir / CHECKPOINT, tensors, state)

    def load_checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The last checkpoint, with metrics.jsonl cut back to its step; None when fresh."""
        path = self.dir / CHECKPOINT
        if not path.exists():
            return None
        tensors, state = checkpoint.load(path)
        self._truncate_metrics(int(state.get("step", 0)))
        self.log(f"resumed from step {state.get('step')}")
        return tensors, state

    def _truncate_metrics(self, step: int) -> None:
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError):
                break  # a line cut by the kill: everything after it is gone too
        checkpoint.atomic_write_text(path, "".join(x + "\n" for x in kept))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows
