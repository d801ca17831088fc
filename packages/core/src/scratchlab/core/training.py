"""Checkpoint glue shared by every training loop, whatever the framework.

A checkpoint holds the model, the optimizer state, the step, the NumPy data RNG and the
framework's RNG, so that a run resumed at step k continues exactly as if never stopped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchlab.core import checkpoint
from scratchlab.core.context import RunContext


def save_state(ctx: RunContext, backend: Any, model: Any, optimizer: Any, step: int,
               rng: np.random.Generator, extra: dict[str, Any] | None = None) -> None:
    opt_tensors, opt_meta = backend.optimizer_state(optimizer, model)
    tensors = {**checkpoint.join("model", backend.state_dict(model)),
               **checkpoint.join("optim", opt_tensors),
               "rng.framework": backend.rng_state()}
    ctx.save_checkpoint(tensors, {"step": step, "backend": backend.name, "optim": opt_meta,
                                  "rng": rng.bit_generator.state, **(extra or {})})


def restore_state(ctx: RunContext, backend: Any, model: Any, optimizer: Any,
                  rng: np.random.Generator) -> tuple[int, dict[str, Any]]:
    """Load the run's checkpoint into model, optimizer and ``rng``; return (step, state).
    Returns (0, {}) for a fresh run."""
    loaded = ctx.load_checkpoint()
    if loaded is None:
        return 0, {}
    tensors, state = loaded
    backend.load_state_dict(model, checkpoint.split(tensors, "model"))
    backend.load_optimizer_state(optimizer, model, checkpoint.split(tensors, "optim"),
                                 state.get("optim", {}))
    if "rng.framework" in tensors and state.get("backend") == backend.name:
        backend.set_rng_state(tensors["rng.framework"])
    rng.bit_generator.state = state["rng"]
    return int(state["step"]), state


def should(every: int, step: int, last: int) -> bool:
    """True on every ``every``-th step (1-based) and on the last one."""
    return step == last or (every > 0 and step % every == 0)
