"""Checkpoints as safetensors of NumPy arrays, so torch and MLX read each other's files.

One file holds the model (``model.<param>``), the optimizer state (``optim.<...>``) and a JSON
``state`` (step, RNG states, anything the task needs to resume exactly). Writes are atomic.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from scratchlab.core.errors import CheckpointError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save(path: str | Path, tensors: dict[str, np.ndarray], state: dict[str, Any] | None = None) -> None:
    """Save ``tensors`` (names -> arrays) and a JSON-able ``state`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        save_file(arrays, tmp, metadata={"scratchlab": json.dumps(state or {})})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load a checkpoint; a missing, truncated or foreign file raises CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as f:  # the header holds the metadata
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        state = json.loads(header.get("__metadata__", {}).get("scratchlab", "{}"))
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"the checkpoint {path} is corrupt or not a scratchlab safetensors file ({exc}). "
            "Delete it to start the run afresh, or point to another checkpoint.") from None
    return tensors, state


def split(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The tensors under ``prefix.`` with the prefix removed (e.g. ``split(t, "model")``)."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def join(prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}
