"""Hook names, framework-free: which hook points a filter selects, and the short names a cache
answers to (``cache["pattern", 1]`` for ``blocks.1.attn.hook_pattern``).

A scratchlab-transformer model carries identity ``HookPoint`` modules at TransformerLens names
(``blocks.{i}.hook_resid_pre``, ``blocks.{i}.attn.hook_pattern``, ...), enumerable with
``model.hook_points()``; torch/hooks.py and mlx/hooks.py attach functions to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from scratchlab.core.errors import ScratchlabError, did_you_mean

NamesFilter = str | Iterable[str] | Callable[[str], bool] | None


def select(points: Iterable[str], names_filter: NamesFilter) -> list[str]:
    """The hook names a filter picks: None (all), one name, a list of names, or a predicate.
    Names that do not exist are a user error, answered with the closest real name."""
    points = list(points)
    if names_filter is None:
        return points
    if callable(names_filter):
        return [n for n in points if names_filter(n)]
    wanted = [names_filter] if isinstance(names_filter, str) else list(names_filter)
    for name in wanted:
        if name not in points:
            raise ScratchlabError(f"the model has no hook point '{name}'"
                                  f"{did_you_mean(name, points)}; it has: "
                                  f"{', '.join(points[:6])}{', ...' if len(points) > 6 else ''}")
    return [n for n in points if n in wanted]


def full_name(key: Any, names: Iterable[str]) -> str:
    """``"blocks.0.attn.hook_pattern"`` as is; ``("pattern", 0)`` or ``("resid_post", 1)`` by the
    hook's short name and layer (like TransformerLens's ``cache["pattern", 0]``)."""
    names = list(names)
    if isinstance(key, str):
        if key in names:
            return key
        raise KeyError(f"no activation '{key}' in the cache{did_you_mean(key, names)}")
    short, layer = key
    pattern = re.compile(rf"^blocks\.{int(layer)}\.(?:.*\.)?hook_{re.escape(short)}$")
    matches = [n for n in names if pattern.match(n)]
    if len(matches) != 1:
        raise KeyError(f"({short!r}, {layer}) matches {matches or 'nothing'} in the cache")
    return matches[0]


def layer_names(short: str, names: Iterable[str]) -> list[str]:
    """Every ``blocks.{i}...hook_{short}`` in the cache, in layer order."""
    pattern = re.compile(rf"^blocks\.(\d+)\.(?:.*\.)?hook_{re.escape(short)}$")
    found = [(int(m.group(1)), n) for n in names if (m := pattern.match(n))]
    if not found:
        raise KeyError(f"no 'hook_{short}' activations in the cache")
    return [n for _, n in sorted(found)]


def hook_points(model: Any) -> Mapping[str, Any]:
    """The model's hook points by name, or a clear error for a model that has none."""
    fn = getattr(model, "hook_points", None)
    if fn is None:
        raise ScratchlabError(f"{type(model).__name__} has no hook points; interp hooks work on "
                              "scratchlab-transformer models (component model 'gpt')")
    return dict(fn())
