"""run_with_cache and run_with_hooks for PyTorch models. Mirrors mlx/hooks.py name for name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from scratchlab.interp import hooks as names
from scratchlab.interp.hooks import NamesFilter

FwdHook = tuple[Any, Callable[[torch.Tensor, str], Any]]


class ActivationCache(Mapping[str, torch.Tensor]):
    """Activations by hook name; ``cache["pattern", 0]`` and ``cache.stack("resid_post")``
    find them by short name and layer."""

    def __init__(self, store: dict[str, torch.Tensor]) -> None:
        self.store = store

    def __getitem__(self, key: Any) -> torch.Tensor:
        return self.store[names.full_name(key, self.store)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)

    def stack(self, short: str, dim: int = 0) -> torch.Tensor:
        """One hook across all layers, stacked along a new ``dim`` (layer order)."""
        return torch.stack([self.store[n] for n in names.layer_names(short, self.store)], dim)

    def to_numpy(self) -> dict[str, Any]:
        return {k: v.detach().float().cpu().numpy() for k, v in self.store.items()}


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


def run_with_hooks(model: Any, tokens: torch.Tensor, fwd_hooks: Sequence[FwdHook] = ()) -> torch.Tensor:
    """Logits of ``model(tokens)`` with ``fwd_hooks`` attached; a hook ``fn(x, name)`` that
    returns a tensor replaces the activation (ablation, patching)."""
    with hooks(model, fwd_hooks):
        return model(tokens)


def run_with_cache(model: Any, tokens: torch.Tensor, names_filter: NamesFilter = None,
                   fwd_hooks: Sequence[FwdHook] = ()) -> tuple[torch.Tensor, ActivationCache]:
    """Logits and an ActivationCache of every hook point ``names_filter`` selects (None: all),
    recorded after any ``fwd_hooks`` have acted. Runs without gradients."""
    store: dict[str, torch.Tensor] = {}

    def save(x: torch.Tensor, name: str) -> None:
        store[name] = x.detach()

    with torch.no_grad(), hooks(model, [*fwd_hooks, (names_filter or (lambda n: True), save)]):
        logits = model(tokens)
    return logits, ActivationCache(dict(sorted(store.items())))
