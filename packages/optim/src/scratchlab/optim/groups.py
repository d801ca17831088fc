"""Parameter routing (framework-free): which parameter gets which update rule and settings.

Both backends build their optimizer from the same plan, so a torch run and an MLX run of one
spec treat every parameter identically. A plan is a list of :class:`Group`: an algorithm name,
the parameter names it owns (in model order) and the hyperparameters of its update rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from scratchlab.optim.config import (
    AdamConfig,
    AdamWConfig,
    LionConfig,
    MuonConfig,
    Routing,
    SGDConfig,
)

ALGORITHM_OF = {SGDConfig: "sgd", AdamConfig: "adam", AdamWConfig: "adamw", LionConfig: "lion",
                MuonConfig: "muon"}
ROUTING_FIELDS = {f.name for f in dataclasses.fields(Routing)} - {"lr", "weight_decay"}
MUON_ONLY_FIELDS = {"fallback", "fallback_params"}


@dataclass
class Group:
    algorithm: str
    names: list[str]
    hyper: dict[str, Any]  # lr, weight_decay and the update rule's own settings


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def hyperparameters(cfg: Routing) -> dict[str, Any]:
    """The update rule's settings: the config minus its routing fields."""
    skip = ROUTING_FIELDS | MUON_ONLY_FIELDS
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in skip}


def plan(cfg: Routing, params: list[tuple[str, tuple[int, ...]]]) -> list[Group]:
    """Split ``(name, shape)`` pairs (the trainable parameters, in model order) into groups."""
    if not params:
        raise ValueError("the model has no trainable parameters to optimise")
    algorithm = ALGORITHM_OF[type(cfg)]
    if isinstance(cfg, MuonConfig):
        mine = {n for n, s in params if len(s) >= 2 and not matches(n, cfg.fallback_params)}
        own = [(n, s) for n, s in params if n in mine]
        rest = [(n, s) for n, s in params if n not in mine]
        return _split(cfg, algorithm, own) + (plan(cfg.fallback, rest) if rest else [])
    return _split(cfg, algorithm, params)


def _split(cfg: Routing, algorithm: str, params: list[tuple[str, tuple[int, ...]]]) -> list[Group]:
    """One group per distinct (lr, weight_decay), in order of first appearance."""
    base = hyperparameters(cfg)
    groups: dict[tuple[float, float], Group] = {}
    for name, shape in params:
        rule = next((g for g in cfg.groups if fnmatchcase(name, g.params)), None)
        lr = rule.lr if rule is not None and rule.lr is not None else cfg.lr
        wd = rule.weight_decay if rule is not None and rule.weight_decay is not None else cfg.weight_decay
        if len(shape) < cfg.decay_min_ndim or matches(name, cfg.no_decay):
            wd = 0.0
        key = (lr, wd)
        if key not in groups:
            groups[key] = Group(algorithm, [], {**base, "lr": lr, "weight_decay": wd})
        groups[key].names.append(name)
    return list(groups.values())
