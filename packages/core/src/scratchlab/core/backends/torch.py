"""The PyTorch backend. Mirrors scratchlab.core.backends.mlx name for name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from scratchlab.core import memory
from scratchlab.core.errors import CheckpointError

name = "torch"


def device(want: str = "auto") -> str:
    """'auto' picks cuda, then mps, then cpu; anything else must be available."""
    if want == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU")
    if want == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but this torch has no Metal support")
    if want not in ("cpu", "cuda", "mps") and not want.startswith("cuda:"):
        raise ValueError(f"unknown torch device '{want}'; use auto, cpu, cuda or mps")
    return want


def seed(value: int) -> None:
    torch.manual_seed(value)  # seeds every CUDA device too


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    else:
        memory.reset_peak_rss()


def peak_memory_mb(device: str) -> float:
    """CUDA: the caching allocator's peak; elsewhere the process's peak resident memory."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20
    return memory.peak_rss_mb()


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy (never a view that later updates would change under your feet)."""
    dtype = torch.float32 if x.is_floating_point() else x.dtype
    return x.detach().to("cpu", dtype=dtype).numpy().copy()


def from_numpy(a: np.ndarray, device: str = "cpu") -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def state_dict(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as NumPy arrays, under the same names as the MLX twin."""
    return {k: to_numpy(v) for k, v in model.state_dict().items()}


def load_state_dict(model: nn.Module, tensors: dict[str, np.ndarray], strict: bool = True) -> None:
    own = model.state_dict()
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
    dev = next(iter(own.values())).device if own else "cpu"
    model.load_state_dict({k: from_numpy(v, dev) for k, v in tensors.items() if k in own},
                          strict=strict)


def _param_names(optimizer: torch.optim.Optimizer, model: nn.Module) -> list[str]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for g in optimizer.param_groups for p in g["params"]]


def optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Flatten optimizer state to ``{"<param>.<slot>": array}`` plus JSON (groups, scalars)."""
    sd = optimizer.state_dict()
    names = _param_names(optimizer, model)
    tensors, scalars = {}, {}
    for idx, slots in sd["state"].items():
        for slot, v in slots.items():
            if torch.is_tensor(v):
                tensors[f"{names[idx]}.{slot}"] = v.detach().cpu().numpy()
            else:
                scalars[f"{names[idx]}.{slot}"] = v
    groups = [{k: v for k, v in g.items() if k != "params"} for g in sd["param_groups"]]
    return tensors, {"groups": groups, "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module,
                         tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    names = _param_names(optimizer, model)
    sd = optimizer.state_dict()
    state: dict[int, dict[str, Any]] = {}
    for idx, pname in enumerate(names):
        slots = {k[len(pname) + 1:]: torch.from_numpy(v.copy()) for k, v in tensors.items()
                 if k.startswith(pname + ".") and k[len(pname) + 1:].count(".") == 0}
        slots.update({k[len(pname) + 1:]: v for k, v in meta.get("scalars", {}).items()
                      if k.startswith(pname + ".") and k[len(pname) + 1:].count(".") == 0})
        if slots:
            state[idx] = slots
    groups = [{**g_meta, "params": g["params"]} for g, g_meta in
              zip(sd["param_groups"], meta.get("groups", sd["param_groups"]))]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> np.ndarray:
    return torch.get_rng_state().numpy().copy()


def set_rng_state(a: np.ndarray) -> None:
    torch.set_rng_state(torch.from_numpy(np.asarray(a, dtype=np.uint8).copy()))


def set_lr(optimizer: torch.optim.Optimizer, scale: float) -> None:
    """Set every group's learning rate to its base rate times ``scale`` (for schedules)."""
    for g in optimizer.param_groups:
        g.setdefault("base_lr", g["lr"])
        g["lr"] = g["base_lr"] * scale


class TrainStep:
    """One optimisation step: loss, gradients, optional global-norm clipping, update.

    ``loss_fn(model, *batch)`` returns the loss, or ``(loss, aux)`` with a dict of extra
    (detached) values to report, e.g. MoE balancing losses.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[..., Any],
                 optimizer: torch.optim.Optimizer, clip_norm: float | None = None) -> None:
        self.model, self.loss_fn, self.optimizer, self.clip_norm = model, loss_fn, optimizer, clip_norm
        self.params = [p for p in model.parameters() if p.requires_grad]

    def __call__(self, *batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        self.optimizer.zero_grad(set_to_none=True)
        out = self.loss_fn(self.model, *batch)
        loss, aux = out if isinstance(out, tuple) else (out, {})
        loss.backward()
        if self.clip_norm:
            aux = {**aux, "grad_norm": nn.utils.clip_grad_norm_(self.params, self.clip_norm)}
        self.optimizer.step()
        return loss.detach(), aux
