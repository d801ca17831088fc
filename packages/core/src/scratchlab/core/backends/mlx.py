"""The MLX backend. Mirrors scratchlab.core.backends.torch name for name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from scratchlab.core import memory
from scratchlab.core.errors import CheckpointError

name = "mlx"


def device(want: str = "auto") -> str:
    """'auto' picks the GPU where MLX has Metal, else the CPU; the choice becomes the default."""
    gpu_ok = mx.metal.is_available()
    if want == "auto":
        want = "gpu" if gpu_ok else "cpu"
    if want == "gpu" and not gpu_ok:
        raise ValueError("device 'gpu' requested but this MLX build has no GPU (Linux wheels "
                         "are CPU-only)")
    if want not in ("cpu", "gpu"):
        raise ValueError(f"unknown mlx device '{want}'; use auto, cpu or gpu")
    mx.set_default_device(mx.gpu if want == "gpu" else mx.cpu)
    return want


def seed(value: int) -> None:
    mx.random.seed(value)


def reset_peak_memory(device: str) -> None:
    if device == "gpu":
        mx.reset_peak_memory()
    else:
        memory.reset_peak_rss()


def peak_memory_mb(device: str) -> float:
    """GPU: MLX's allocator peak; on the CPU the process's peak resident memory."""
    if device == "gpu":
        return mx.get_peak_memory() / 2**20
    return memory.peak_rss_mb()


def to_numpy(x: Any) -> np.ndarray:
    if x.dtype == mx.bfloat16:
        x = x.astype(mx.float32)
    return np.array(x)


def from_numpy(a: np.ndarray, device: str = "cpu") -> mx.array:
    return mx.array(a)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    params = model.trainable_parameters() if trainable_only else model.parameters()
    return sum(v.size for _, v in tree_flatten(params))


def state_dict(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters (and frozen ones) as NumPy arrays, under the same names as the torch twin."""
    return {k: to_numpy(v) for k, v in tree_flatten(model.parameters())}


def load_state_dict(model: nn.Module, tensors: dict[str, np.ndarray], strict: bool = True) -> None:
    own = dict(tree_flatten(model.parameters()))
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"the checkpoint does not match the model: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}")
    for k, a in tensors.items():
        if k in own and tuple(own[k].shape) != a.shape:
            raise CheckpointError(f"the checkpoint's '{k}' has shape {a.shape}, the model's "
                                  f"{tuple(own[k].shape)}")
    model.load_weights([(k, mx.array(v)) for k, v in tensors.items() if k in own], strict=False)
    mx.eval(model.parameters())


def optimizer_state(optimizer: optim.Optimizer, model: nn.Module) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Flatten optimizer state to ``{"<param>.<slot>": array}`` plus JSON metadata."""
    flat = tree_flatten(optimizer.state)
    return {k: to_numpy(v) for k, v in flat if isinstance(v, mx.array)}, {}


def load_optimizer_state(optimizer: optim.Optimizer, model: nn.Module,
                         tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    optimizer.state = tree_unflatten([(k, mx.array(v)) for k, v in tensors.items()])


def rng_state() -> np.ndarray:
    return np.array(mx.random.state[0])  # type: ignore[index]


def set_rng_state(a: np.ndarray) -> None:
    # MLX exposes no setter for its global key, but seed(s) sets the key to (s >> 32, s & 0xffffffff)
    hi, lo = (int(x) for x in np.asarray(a, dtype=np.uint32).reshape(-1)[:2])
    mx.random.seed((hi << 32) | lo)


def set_lr(optimizer: optim.Optimizer, scale: float) -> None:
    """Set the learning rate to its base rate times ``scale`` (for schedules)."""
    for inner in getattr(optimizer, "optimizers", []):  # MultiOptimizer: each has its own rate
        set_lr(inner, scale)
    if hasattr(optimizer, "optimizers"):
        return
    if not hasattr(optimizer, "base_lr"):
        optimizer.base_lr = float(optimizer.learning_rate)  # type: ignore[attr-defined]
    optimizer.learning_rate = optimizer.base_lr * scale  # type: ignore[attr-defined]


class TrainStep:
    """One optimisation step: loss, gradients, optional global-norm clipping, update.

    ``loss_fn(model, *batch)`` returns the loss, or ``(loss, aux)`` with a dict of extra values.
    With ``compile=True`` the whole step is traced once by ``mx.compile``.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[..., Any], optimizer: optim.Optimizer,
                 clip_norm: float | None = None, compile: bool = False) -> None:
        self.model, self.loss_fn, self.optimizer, self.clip_norm = model, loss_fn, optimizer, clip_norm
        self._has_aux: bool | None = None
        self._compile = compile
        self._step: Callable[..., Any] | None = None  # built at the first call, see there

    def _loss(self, model: nn.Module, *batch: Any) -> Any:
        out = self.loss_fn(model, *batch)
        return out if isinstance(out, tuple) else (out, {})

    def _raw(self, *batch: Any) -> tuple[mx.array, dict[str, Any]]:
        (loss, aux), grads = nn.value_and_grad(self.model, self._loss)(self.model, *batch)
        if self.clip_norm:
            grads, grad_norm = optim.clip_grad_norm(grads, self.clip_norm)
            aux = {**aux, "grad_norm": grad_norm}
        self.optimizer.update(self.model, grads)
        return loss, aux

    def __call__(self, *batch: Any) -> tuple[mx.array, dict[str, Any]]:
        if self._step is None:
            # mx.compile captures the state containers it is given; a checkpoint restored after
            # this object was built replaces the optimizer's, so capture them only now
            state = [self.model.state, self.optimizer.state, mx.random.state]
            self._step = (partial(mx.compile, inputs=state, outputs=state)(self._raw)
                          if self._compile else self._raw)
        loss, aux = self._step(*batch)
        mx.eval(loss, aux, self.model.parameters(), self.optimizer.state)
        return loss, aux
