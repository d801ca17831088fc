"""Learning-rate schedules (framework-free): ``factory(config, total_steps) -> f(step) -> multiplier``.

``step`` counts the updates already taken (0 for the first update); the task sets every
group's rate to ``base_lr * f(step)`` (core's ``set_lr``) before each update. Warmup is linear,
``(step + 1) / (warmup + 1)``, so the first update is small but never zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Schedule = Callable[[int], float]


def _warmup(step: int, warmup: int) -> float:
    return (step + 1) / (warmup + 1) if step < warmup else 1.0


def _check(warmup: int, min_lr_ratio: float = 0.0) -> None:
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")


@dataclass
class ConstantConfig:
    """The base rate throughout (after an optional linear warmup)."""

    warmup: int = 0

    def __post_init__(self) -> None:
        _check(self.warmup)


@dataclass
class WarmupConfig:
    """Linear warmup over ``warmup`` steps, then constant."""

    warmup: int = 100

    def __post_init__(self) -> None:
        _check(self.warmup)


@dataclass
class CosineConfig:
    """Linear warmup, then half a cosine from 1 down to ``min_lr_ratio`` at the last step."""

    warmup: int = 0
    min_lr_ratio: float = 0.1

    def __post_init__(self) -> None:
        _check(self.warmup, self.min_lr_ratio)


@dataclass
class WSDConfig:
    """Warmup-stable-decay: warmup, a long plateau at 1, then a decay over the last
    ``decay_fraction`` of training to ``min_lr_ratio`` (linear, cosine or 1 - sqrt)."""

    warmup: int = 0
    decay_fraction: float = 0.2
    min_lr_ratio: float = 0.0
    decay: Literal["linear", "cosine", "sqrt"] = "linear"

    def __post_init__(self) -> None:
        _check(self.warmup, self.min_lr_ratio)
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")


@dataclass
class InverseSqrtConfig:
    """Linear warmup to 1 at ``warmup``, then sqrt(warmup / step) (the Transformer paper's rule)."""

    warmup: int = 100

    def __post_init__(self) -> None:
        _check(self.warmup)


def constant(config: ConstantConfig, total_steps: int) -> Schedule:
    return lambda step: _warmup(step, config.warmup)


def warmup(config: WarmupConfig, total_steps: int) -> Schedule:
    return lambda step: _warmup(step, config.warmup)


def _progress(step: int, start: int, total_steps: int) -> float:
    """0 at ``start``, 1 at the last step (``total_steps - 1``), clamped."""
    span = max(1, total_steps - 1 - start)
    return min(1.0, max(0.0, (step - start) / span))


def cosine(config: CosineConfig, total_steps: int) -> Schedule:
    def f(step: int) -> float:
        if step < config.warmup:
            return _warmup(step, config.warmup)
        p = _progress(step, config.warmup, total_steps)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))
    return f


def wsd(config: WSDConfig, total_steps: int) -> Schedule:
    decay_start = max(config.warmup, total_steps - round(config.decay_fraction * total_steps))
    shapes = {"linear": lambda p: 1 - p, "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
              "sqrt": lambda p: 1 - math.sqrt(p)}
    shape = shapes[config.decay]

    def f(step: int) -> float:
        if step < config.warmup:
            return _warmup(step, config.warmup)
        if step < decay_start:
            return 1.0
        p = _progress(step, decay_start, total_steps)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * shape(p)
    return f


def inverse_sqrt(config: InverseSqrtConfig, total_steps: int) -> Schedule:
    def f(step: int) -> float:
        if step < config.warmup:
            return _warmup(step, config.warmup)
        return math.sqrt(max(1, config.warmup) / max(1, step))
    return f
