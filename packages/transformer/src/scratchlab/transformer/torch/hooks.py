"""Hook points for interpretability: identity modules at TransformerLens names.

A HookPoint returns its input untouched unless a hook is attached; a hook ``fn(x, name)`` may
return a replacement (patching) or None (observing). With no hook attached the cost is one
Python call and a truth test: ``__call__`` is overridden to skip nn.Module's machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

Hook = Callable[[torch.Tensor, str], Any]


class HookPoint(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.name = ""  # set by the model to its dotted path, e.g. "blocks.0.attn.hook_q"
        self._hooks: list[Hook] = []

    def add_hook(self, fn: Hook) -> Callable[[], None]:
        """Attach ``fn``; returns a function that removes it again."""
        self._hooks.append(fn)
        return lambda: self._hooks.remove(fn) if fn in self._hooks else None

    def remove_hooks(self) -> None:
        self._hooks.clear()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self._hooks:
            return x
        for fn in list(self._hooks):
            out = fn(x, self.name)
            if out is not None:
                x = out
        return x

    forward = __call__


def name_hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Give every HookPoint its dotted name; returns them by name."""
    points = {}
    for name, module in model.named_modules():
        if isinstance(module, HookPoint):
            module.name = name
            points[name] = module
    return dict(sorted(points.items()))
