"""Backends: the few framework-specific services every task needs, with one shape per framework.

``get_backend("torch")`` / ``get_backend("mlx")`` import the framework only when asked, so
``scratchlab.core`` itself imports neither. Both backends offer the same methods:

- ``device(want)``: pick a device ("auto", "cpu", "cuda", "mps" / "auto", "cpu", "gpu")
- ``seed(seed)``: seed the framework's global RNG
- ``to_numpy(x)`` / ``from_numpy(a)``
- ``count_params(model, trainable_only=False)``
- ``state_dict(model)`` / ``load_state_dict(model, tensors)``: NumPy arrays, same names in both
- ``optimizer_state(opt, model)`` / ``load_optimizer_state(opt, model, tensors)``
- ``rng_state()`` / ``set_rng_state(a)``
- ``TrainStep(model, loss_fn, optimizer, clip_norm)``: loss, gradients, clipping, update
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.registry import BACKENDS

_INSTALL = {"torch": 'pip install torch', "mlx": 'pip install "mlx[cpu]" (Linux) or pip install mlx (macOS)'}


def available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def require(name: str) -> None:
    """Raise a clear error if the framework behind backend ``name`` is not installed."""
    if name not in BACKENDS:
        raise ScratchlabError(f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}")
    if not available(name):
        raise ScratchlabError(f"the {name} backend needs {name}, which is not installed: "
                              f"{_INSTALL[name]}")


def get_backend(name: str) -> Any:
    """The backend object for ``name`` (module scratchlab.core.backends.<name>)."""
    require(name)
    return importlib.import_module(f"scratchlab.core.backends.{name}")
