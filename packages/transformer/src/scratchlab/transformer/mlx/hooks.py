"""Hook points for interpretability: identity modules at TransformerLens names.

A HookPoint returns its input untouched unless a hook is attached; a hook ``fn(x, name)`` may
return a replacement (patching) or None (observing). The hook list is a plain Python attribute
(set with object.__setattr__), so it never shows up in ``parameters()`` or ``children()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn

Hook = Callable[[mx.array, str], Any]


class HookPoint(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "name", "")  # set by the model, e.g. "blocks.0.attn.hook_q"
        object.__setattr__(self, "_hooks", [])

    def add_hook(self, fn: Hook) -> Callable[[], None]:
        """Attach ``fn``; returns a function that removes it again."""
        self._hooks.append(fn)
        return lambda: self._hooks.remove(fn) if fn in self._hooks else None

    def remove_hooks(self) -> None:
        self._hooks.clear()

    def __call__(self, x: mx.array) -> mx.array:
        if not self._hooks:
            return x
        for fn in list(self._hooks):
            out = fn(x, self.name)
            if out is not None:
                x = out
        return x


def name_hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Give every HookPoint its dotted name; returns them by name."""
    points = {}
    for name, module in model.named_modules():
        if isinstance(module, HookPoint):
            object.__setattr__(module, "name", name)
            points[name] = module
    return dict(sorted(points.items()))
