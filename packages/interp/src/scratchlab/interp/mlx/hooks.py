"""run_with_cache and run_with_hooks for MLX models. Mirrors torch/hooks.py name for name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import mlx.core as mx
import numpy as np

from scratchlab.interp import hooks as names
from scratchlab.interp.hooks import NamesFilter

FwdHook = tuple[Any, Callable[[mx.array, str], Any]]


class ActivationCache(Mapping[str, mx.array]):
    """Activations by hook name; ``cache["pattern", 0]`` and ``cache.stack("resid_post")``
    find them by short name and layer."""

    def __init__(self, store: dict[str, mx.array]) -> None:
        self.store = store

    def __getitem__(self, key: Any) -> mx.array:
        return self.store[names.full_name(key, self.store)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)

    def stack(self, short: str, dim: int = 0) -> mx.array:
        """One hook across all layers, stacked along a new ``dim`` (layer order)."""
        return mx.stack([self.store[n] for n in names.layer_names(short, self.store)], dim)

    def to_numpy(self) -> dict[str, Any]:
        return {k: np.array(v.astype(mx.float32)) for k, v in self.store.items()}


@contextmanager
def hooks(model: Any, fwd_hooks: Sequence[FwdHook]) -> Iterator[None]:
    """Attach ``fwd_hooks`` (each ``(name, fn)`` or ``(predicate, fn)``) for the duration of a
    ``with`` block; they come off again however the block ends (exceptions too)."""
    points = names.hook_points(model)
    removers = []
    try:
        for target, fn in fwd_hooks:
            for name in names.select(points, target):
                removers.append(points[name].add_hook(fn))
        yield
    finally:
        for remove in removers:
            remove()


def run_with_hooks(model: Any, tokens: mx.array, fwd_hooks: Sequence[FwdHook] = ()) -> mx.array:
    """Logits of ``model(tokens)`` with ``fwd_hooks`` attached; a hook ``fn(x, name)`` that
    returns an array replaces the activation (ablation, patching)."""
    with hooks(model, fwd_hooks):
        logits = model(tokens)
        mx.eval(logits)
        return logits


def run_with_cache(model: Any, tokens: mx.array, names_filter: NamesFilter = None,
                   fwd_hooks: Sequence[FwdHook] = ()) -> tuple[mx.array, ActivationCache]:
    """Logits and an ActivationCache of every hook point ``names_filter`` selects (None: all),
    recorded after any ``fwd_hooks`` have acted. Runs without gradients."""
    store: dict[str, mx.array] = {}

    def save(x: mx.array, name: str) -> None:
        store[name] = mx.stop_gradient(x)

    with hooks(model, [*fwd_hooks, (names_filter or (lambda n: True), save)]):
        logits = model(tokens)
    mx.eval(logits, store)
    return logits, ActivationCache(dict(sorted(store.items())))
